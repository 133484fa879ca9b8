#pragma once
// Building the server's TLS context from the config, and holding the
// current one so SIGHUP can swap in a renewed certificate.

#include <asio/ssl/context.hpp>
#include <memory>
#include <mutex>

#include "config/config.hpp"

namespace popbox::net {

/// Creates a server context: TLS 1.2+ (or 1.3+), TLS 1.2 limited to ECDHE
/// AEAD suites, the server's cipher order, session tickets, and ALPN "pop3"
/// (a client offering only other protocols is refused with the
/// no_application_protocol alert; a client offering none is served),
/// record buffers released while a connection is idle, and every
/// certificate of the config (one per key type, the client's abilities
/// choose). Each chain and key is checked; throws std::runtime_error naming
/// the file and the OpenSSL reason.
std::shared_ptr<asio::ssl::context> make_tls_context(const config::TlsConfig& tls);

/// The TLS context new connections use; replaced atomically on reload.
class TlsContextHolder {
 public:
  void set(std::shared_ptr<asio::ssl::context> ctx) {
    std::lock_guard lock(mutex_);
    ctx_ = std::move(ctx);
  }
  std::shared_ptr<asio::ssl::context> get() const {
    std::lock_guard lock(mutex_);
    return ctx_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<asio::ssl::context> ctx_;
};

}  // namespace popbox::net
