#pragma once
// The HTTP endpoint of [metrics] listen: GET /metrics in Prometheus text
// format 0.0.4, 404 for anything else. cpp-httplib (Debian's
// libcpp-httplib) on a thread of its own with a small bounded pool, never
// on an event thread; httplib stays inside endpoint.cpp.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace popbox::metrics {

class Endpoint {
 public:
  /// Binds host:port now (port 0: any free port), so it can happen before
  /// the privilege drop; serves nothing until start(). Throws
  /// std::runtime_error naming the address when it cannot bind. `render`
  /// is called on the endpoint's threads for each scrape.
  Endpoint(const std::string& host, std::uint16_t port, std::function<std::string()> render);
  /// Stops serving and joins the threads.
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  /// The port bound (the chosen one when port 0 was asked for).
  std::uint16_t port() const noexcept;
  /// Starts serving on a thread of its own (and limits::metrics_threads
  /// workers); call once.
  void start();
  /// Stops accepting, waits for the requests in progress; idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace popbox::metrics
