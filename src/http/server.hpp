#pragma once
// An asynchronous HTTP/1.1 server: standalone Asio for the bytes, Boost.Beast
// for parsing (basic_parser::put over our own reads) and serializing. One
// io_context per event thread, one coroutine per connection, keep-alive,
// a deadline on every read and write, a bounded request head and body, a
// bounded number of connections. A handler is a coroutine, so a response
// may wait (long-poll) or stream (SSE) without holding a thread: an idle
// waiting connection costs its socket, its coroutine frame and its buffer.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "http/router.hpp"

namespace popbox::http {

/// What one client may hold (defaults: core/limits.hpp).
struct ServerLimits {
  std::size_t max_connections;
  std::size_t max_request_head;
  std::size_t max_request_body;
  std::chrono::milliseconds request_timeout;
  std::chrono::milliseconds idle_timeout;
  std::chrono::milliseconds write_timeout;
  unsigned threads;
  /// The limits of core/limits.hpp (http_*).
  static ServerLimits defaults();
};

class Server {
 public:
  /// Binds host:port now (port 0: any free port). Throws std::runtime_error
  /// naming the address when it cannot bind. `handler` runs on an event
  /// thread for every complete request; it must not block.
  Server(const std::string& host, std::uint16_t port, ServerLimits limits, Handler handler);
  /// Stops (see stop()).
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// The port bound.
  std::uint16_t port() const noexcept;
  /// Starts the event threads; call once.
  void start();
  /// Closes the listener and every connection, drops the handlers still
  /// waiting, and joins the threads. Idempotent.
  void stop();
  /// Connections open now (for tests and the memory measurement).
  std::size_t connections() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace popbox::http
