#pragma once
// The admin socket: a unix stream socket (mode 0660) on which the server
// takes one JSON request per connection and writes one JSON reply
// (admin/protocol.hpp). Bounded: request size, the time to send it, the time
// to take the reply, and the connections served at once.

#include <sys/types.h>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>
#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "admin/protocol.hpp"

namespace popbox::admin {

/// Who is on the other end of an admin connection (SO_PEERCRED).
struct Peer {
  pid_t pid = 0;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
};

/// Answers a parsed request.
using Handler = std::function<asio::awaitable<Reply>(const Request&, const Peer&)>;

class Socket {
 public:
  /// Binds `path` on `context` (its directory created, mode 0755, if
  /// missing; a stale socket file replaced, never another kind of file) and
  /// makes the socket mode 0660. Throws std::runtime_error naming the path.
  Socket(asio::io_context& context, std::string path);
  ~Socket();
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  /// Gives the socket (and a directory the constructor created) to `uid`,
  /// and the socket to the group named `group` ([admin] group), or to `gid`
  /// when that is "". Throws std::runtime_error naming the path or group.
  void set_owner(uid_t uid, gid_t gid, const std::string& group);
  /// Starts accepting on the context; `handler` answers each request.
  void start(Handler handler);
  /// Stops accepting and removes the socket file; connections in progress
  /// end within their deadlines.
  void close();

  const std::string& path() const noexcept { return path_; }

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(asio::local::stream_protocol::socket socket);

  asio::io_context& context_;
  std::string path_;
  std::string created_dir_;  // the directory bind() made, "" if it existed
  asio::local::stream_protocol::acceptor acceptor_;
  Handler handler_;
  std::shared_ptr<std::atomic<std::size_t>> active_ = std::make_shared<std::atomic<std::size_t>>(0);
  bool closed_ = false;
};

}  // namespace popbox::admin
