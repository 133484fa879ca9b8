#pragma once
// One SMTP connection: a coroutine that moves bytes between the socket and
// the pure smtp::Session (plain, then TLS after STARTTLS), reads DATA
// bodies into a spool, and runs credential checks and deliveries on the
// blocking pool. What happens to the mail is the smtp::Backend's business.

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/thread_pool.hpp>
#include <atomic>
#include <cstdint>
#include <memory>

#include "smtp/backend.hpp"
#include "smtp/session.hpp"

namespace popbox::net {

struct ConnectionSet;

/// What every connection of one SMTP listener shares.
struct SmtpContext {
  asio::thread_pool& pool;                  ///< blocking work (delivery, AUTH checks)
  std::shared_ptr<asio::ssl::context> tls;  ///< null: no STARTTLS
  smtp::Backend& backend;
  smtp::SessionOptions options;  ///< starttls_available is set from `tls`
  std::atomic<std::uint64_t> next_id{1};
};

/// Serves one SMTP connection until it ends (QUIT, error, timeout, stop).
asio::awaitable<void> serve_smtp(asio::ip::tcp::socket socket, SmtpContext& ctx,
                                 ConnectionSet& set);

}  // namespace popbox::net
