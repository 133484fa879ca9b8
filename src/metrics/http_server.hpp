#pragma once
// A small HTTP/1.1 server for local, low-rate endpoints (/metrics): one
// request per connection (Connection: close), no request bodies. Boost.Beast
// parses and serializes; the bytes move over standalone Asio on an
// io_context and a thread of the server's own, never a POP3 event thread.
// Every resource a client can hold is bounded: the request head
// (header_limit), the time (one deadline for the whole connection, the
// reply and the discarding of any input after it included) and the
// connections at once (beyond max_connections a new one is closed at once).
// Beast and Asio stay inside http_server.cpp.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace popbox::metrics {

/// What one client may hold.
struct HttpLimits {
  std::size_t max_connections = 8;           ///< open at once; beyond: closed at once
  std::size_t header_limit = 4096;           ///< request line + headers, bytes
  std::chrono::milliseconds deadline{5000};  ///< whole connection, accept to close
  std::size_t discard_limit = 65536;         ///< input read and dropped after the reply
};

/// A parsed request head.
struct HttpRequest {
  std::string method;  ///< as sent ("GET", "HEAD", ...)
  std::string target;  ///< as sent ("/metrics", "/a?b", ...)
};

/// The reply to one request; the server adds Content-Length, Connection:
/// close and Server, and sends no body to HEAD.
struct HttpReply {
  unsigned status = 200;
  std::string content_type = "text/plain";
  std::string body;
};

class HttpServer {
 public:
  /// Called on the server's thread for each complete request head.
  using Handler = std::function<HttpReply(const HttpRequest&)>;

  /// Binds host:port now (port 0: any free port), so it can happen before
  /// the privilege drop; serves nothing until start(). Throws
  /// std::runtime_error naming the address when it cannot bind.
  HttpServer(const std::string& host, std::uint16_t port, HttpLimits limits, Handler handler);
  /// Stops (see stop()).
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// The port bound (the chosen one when port 0 was asked for).
  std::uint16_t port() const noexcept;
  /// Starts serving on a thread of its own; call once.
  void start();
  /// Closes the listener and every connection at once, and joins the
  /// thread; returns without waiting for any peer. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace popbox::metrics
