#pragma once
// What the admin socket's requests do inside the server: `who` and `kick`
// visit every event thread's session registry on its own thread, `mailbox
// stat` and `expunge` run on the mail pool (with its privilege model),
// `reload` is the SIGHUP reload.

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <functional>
#include <memory>
#include <vector>

#include "admin/protocol.hpp"
#include "admin/socket.hpp"
#include "net/reload_report.hpp"

namespace popbox::store {
class MaildirPaths;
}

namespace popbox::net {

struct ServerState;

class AdminService {
 public:
  /// `contexts` are the event threads' contexts; `reload` runs on the pool.
  /// `paths`: the store's Maildir paths, nullptr for a backend without
  /// them (mailbox stat and expunge then say so).
  AdminService(ServerState& state, const store::MaildirPaths* paths,
               std::vector<asio::io_context*> contexts, std::function<ReloadReport()> reload);

  /// Answers one request (admin::Handler).
  asio::awaitable<admin::Reply> handle(const admin::Request& request, const admin::Peer& peer);

 private:
  asio::awaitable<admin::Reply> who();
  asio::awaitable<admin::Reply> kick(const admin::Request& request);
  asio::awaitable<admin::Reply> mailbox_stat(const admin::Request& request);
  asio::awaitable<admin::Reply> expunge(const admin::Request& request);
  asio::awaitable<admin::Reply> reload();

  ServerState& state_;
  const store::MaildirPaths* paths_;
  std::vector<asio::io_context*> contexts_;
  std::function<ReloadReport()> reload_;
};

}  // namespace popbox::net
