#include "metrics/endpoint.hpp"

#include "core/ip_address.hpp"
#include "core/limits.hpp"

namespace popbox::metrics {

namespace {

constexpr char content_type[] = "text/plain; version=0.0.4; charset=utf-8";

HttpLimits endpoint_limits() {
  HttpLimits l;
  l.max_connections = limits::metrics_max_connections;
  l.header_limit = limits::metrics_max_request_head;
  l.deadline = limits::metrics_timeout;
  l.discard_limit = limits::metrics_max_discard;
  return l;
}

}  // namespace

bool is_public_listen(const std::string& host) {
  const auto ip = core::parse_ip(host);
  return !ip || !ip->is_loopback();
}

HttpReply metrics_reply(const HttpRequest& req, const std::function<std::string()>& render) {
  if ((req.method == "GET" || req.method == "HEAD") && req.target == "/metrics") {
    return HttpReply{200, content_type, render()};
  }
  return HttpReply{404, "text/plain", "not found; try /metrics\n"};
}

Endpoint::Endpoint(const std::string& host, std::uint16_t port, std::function<std::string()> render)
    : http_(host, port, endpoint_limits(), [render = std::move(render)](const HttpRequest& req) {
        return metrics_reply(req, render);
      }) {}

}  // namespace popbox::metrics
