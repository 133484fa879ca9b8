#pragma once
// The HTTP endpoint of [metrics] listen: GET (or HEAD) /metrics in
// Prometheus text format 0.0.4, 404 for any other method or path. Served by
// HttpServer on a thread of its own, never on an event thread, with the
// limits::metrics_* bounds (docs/metrics.md, "Endpoint").

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "metrics/http_server.hpp"

namespace popbox::metrics {

/// The reply of the metrics endpoint to `req`; `render` makes the
/// exposition and is called only for GET/HEAD /metrics.
HttpReply metrics_reply(const HttpRequest& req, const std::function<std::string()>& render);

/// True unless `host` is a loopback address (127.0.0.0/8, ::1): anyone who
/// reaches a public endpoint reads the metrics (`event=metrics_public`).
bool is_public_listen(const std::string& host);

class Endpoint {
 public:
  /// Binds host:port now (port 0: any free port), so it can happen before
  /// the privilege drop; serves nothing until start(). Throws
  /// std::runtime_error naming the address when it cannot bind. `render`
  /// is called on the endpoint's thread for each scrape.
  Endpoint(const std::string& host, std::uint16_t port, std::function<std::string()> render);

  /// The port bound (the chosen one when port 0 was asked for).
  std::uint16_t port() const noexcept { return http_.port(); }
  /// Starts serving on a thread of its own; call once.
  void start() { http_.start(); }
  /// Closes the listener and every scrape in progress and joins the
  /// thread, promptly; idempotent (the destructor calls it).
  void stop() { http_.stop(); }

 private:
  HttpServer http_;
};

}  // namespace popbox::metrics
