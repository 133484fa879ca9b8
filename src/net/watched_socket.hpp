#pragma once
// A connection's socket with a deadline on every read and write, and its
// membership in the per-thread set that shutdown walks. Shared by the POP3
// and LMTP connections.

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <unordered_set>

#include "core/limits.hpp"

namespace popbox::net {

/// What shutdown needs from a live connection.
class LiveConnection {
 public:
  /// Closes the connection if it waits for its peer; otherwise it closes
  /// when its current command is done.
  virtual void request_stop() = 0;
  /// Closes the connection now.
  virtual void force_close() = 0;

 protected:
  ~LiveConnection() = default;
};

/// The live connections of one event thread; only touched from that thread.
struct ConnectionSet {
  std::unordered_set<LiveConnection*> live;
  void request_stop() {
    for (LiveConnection* c : live) c->request_stop();
  }
  void close_all() {
    for (LiveConnection* c : live) c->force_close();
  }
};

template <class Socket>
class WatchedSocket : public LiveConnection {
 public:
  using clock = std::chrono::steady_clock;

  WatchedSocket(Socket s, ConnectionSet& set)
      : socket(std::move(s)), timer(socket.get_executor()), set_(set) {
    set_.live.insert(this);
  }
  virtual ~WatchedSocket() { set_.live.erase(this); }
  WatchedSocket(const WatchedSocket&) = delete;
  WatchedSocket& operator=(const WatchedSocket&) = delete;

  /// Sets the deadline of the current read or write to `d` from now, but
  /// never past the hard deadline.
  void arm(clock::duration d) {
    deadline = std::min(clock::now() + d, hard_deadline);
    // The watchdog re-checks the deadline when it wakes; wake it early if
    // the new deadline comes before the one it sleeps towards.
    if (deadline < timer.expiry()) timer.cancel();
  }
  void close() {
    std::error_code ignored;
    socket.close(ignored);
  }
  void request_stop() override {
    stop_requested = true;
    if (idle) close();
  }
  void force_close() override { close(); }
  /// Ends the watchdog; call when the connection is done.
  void finish() {
    finished = true;
    timer.cancel();
    close();
  }

  /// Starts the watchdog that closes the socket when the deadline passes.
  static void start_watchdog(std::shared_ptr<WatchedSocket> self) {
    auto executor = self->socket.get_executor();  // before `self` is moved from
    asio::co_spawn(executor, watchdog(std::move(self)), asio::detached);
  }

  Socket socket;
  asio::steady_timer timer;
  clock::time_point deadline = clock::time_point::max();
  /// A deadline no read or write may pass (the POP3 login deadline). When it
  /// passes, pending operations are cancelled (hard_expired) and the
  /// connection has limits::goodbye_timeout left to say why before it closes.
  clock::time_point hard_deadline = clock::time_point::max();
  bool hard_expired = false;
  bool idle = false;  ///< waiting for the peer's next command
  bool stop_requested = false;
  bool timed_out = false;
  bool finished = false;

 private:
  static asio::awaitable<void> watchdog(std::shared_ptr<WatchedSocket> conn) {
    while (!conn->finished) {
      conn->timer.expires_at(conn->deadline);
      co_await conn->timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      if (conn->finished) break;
      const auto now = clock::now();
      if (now >= conn->deadline && !conn->hard_expired && conn->deadline >= conn->hard_deadline) {
        conn->hard_expired = true;
        conn->timed_out = true;
        conn->hard_deadline = now + limits::goodbye_timeout;
        conn->deadline = conn->hard_deadline;
        std::error_code ignored;
        conn->socket.cancel(ignored);
        continue;
      }
      if (now >= conn->deadline) {
        conn->timed_out = true;
        conn->close();
        break;
      }
    }
  }

  ConnectionSet& set_;
};

}  // namespace popbox::net
