#pragma once
// The POP3 server: listeners, event threads, signals. Asio stays inside
// server.cpp so the command-line code compiles fast.

#include <memory>
#include <string>

#include "config/config.hpp"

namespace popbox::store {
class Store;
}
namespace popbox::auth {
class UserSource;
}

namespace popbox::net {

class Pop3Hooks;

class Server {
 public:
  /// Loads users, the TLS certificate and binds every listener; throws
  /// std::runtime_error with a message an operator can act on.
  explicit Server(config::Config cfg);
  /// The same, serving the mail of `store` (not null) instead of the one
  /// `[store] backend` names: the sandbox's memory store, tests.
  Server(config::Config cfg, std::shared_ptr<store::Store> store);
  /// The same, with the users of `users` (not null) instead of the ones
  /// `[auth] source` names: the sandbox's inboxes.
  Server(config::Config cfg, std::shared_ptr<store::Store> store,
         std::shared_ptr<auth::UserSource> users);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Gives the admin socket ([admin] socket, if set) to `uid` and to the
  /// group [admin] group names, else `gid`; call while still root. Throws
  /// std::runtime_error when it cannot.
  void set_admin_owner(unsigned uid, unsigned gid);

  /// Lets `hooks` change what POP3 sessions do (net/pop3_hooks.hpp); call
  /// before run().
  void set_pop3_hooks(std::shared_ptr<Pop3Hooks> hooks);

  /// Serves until SIGTERM or SIGINT (SIGHUP reloads users and certificate);
  /// returns the process exit code.
  int run();

  /// The LMTP unix socket file the constructor created, "" when there is
  /// none (not configured, or the socket came from systemd).
  const std::string& unix_socket_path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace popbox::net
