#include "sandbox/api/http_api.hpp"

#include <openssl/crypto.h>

#include <asio/ip/address.hpp>
#include <asio/post.hpp>
#include <stdexcept>

#include "core/limits.hpp"
#include "sandbox/api/api_impl.hpp"

namespace popbox::sandbox {

namespace api {

http::Response json_response(unsigned status, const json& body) {
  http::Response r;
  r.status = status;
  r.body = dump(body);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

http::Response error_response(unsigned status, std::string_view text) {
  return json_response(status, json{{"error", text}});
}

http::Response no_content() {
  http::Response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

http::Response hub_error(const std::error_code& ec) {
  if (ec == std::errc::no_such_file_or_directory) return error_response(404, "not found");
  if (ec == std::errc::file_exists) return error_response(409, "address already has an inbox");
  if (ec == std::errc::invalid_argument) return error_response(400, ec.message());
  return error_response(500, "storage error: " + ec.message());
}

std::optional<json> body_object(const http::Request& req) {
  if (req.body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

}  // namespace api

HttpApi::Impl::Impl(Hub& h, std::string host, std::uint16_t p, std::string t, ApiSettings s)
    : hub(h),
      listen_host(std::move(host)),
      port(p),
      token(std::move(t)),
      settings(std::move(s)),
      pool(limits::http_blocking_threads),
      events(asio::make_strand(pool.get_executor())),
      cache(h, limits::sandbox_parse_cache) {
  add_routes();
}

void HttpApi::Impl::add_routes() {
  add_inbox_routes();
  add_message_routes();
  add_live_routes();
  add_admin_routes();
}

bool HttpApi::Impl::authorized(const http::Request& req) const {
  if (token.empty()) return true;
  std::string given;
  if (const auto* auth = req.header("authorization"); auth && auth->rfind("Bearer ", 0) == 0) {
    given = auth->substr(7);
  } else if (auto q = req.query_param("token")) {
    given = *q;
  }
  return given.size() == token.size() &&
         CRYPTO_memcmp(given.data(), token.data(), token.size()) == 0;
}

asio::awaitable<http::Response> HttpApi::Impl::handle(http::Request& req) {
  if (req.path.rfind("/api/", 0) == 0 && !authorized(req)) {
    auto r = api::error_response(401, "missing or wrong API token");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    co_return r;
  }
  unsigned status = 404;
  const http::Handler* h = router.match(req, status);
  if (!h) co_return api::error_response(status, status == 405 ? "method not allowed" : "not found");
  co_return co_await (*h)(req);
}

void HttpApi::Impl::on_event(const Event& ev) {
  if (stopping) return;
  asio::post(events, [this, ev] { process(ev); });
}

void HttpApi::Impl::process(const Event& ev) {
  using K = Event::Kind;
  switch (ev.kind) {
    case K::message_received: {
      auto info = hub.message(ev.inbox_id, ev.message_id);
      std::error_code ec;
      auto parsed = info ? cache.get(ev.inbox_id, ev.message_id, ec) : nullptr;
      if (!parsed) {
        feed.publish(ev, nullptr);  // gone already (retention): no summary
        return;
      }
      const api::json summary = api::summary_json(*info, *parsed);
      waiters.offer(*info, *parsed);
      feed.publish(ev, &summary);
      if (auto inbox = hub.inbox(ev.inbox_id)) {
        webhooks.notify(ev.inbox_id, "message_received", ev.message_id,
                        api::json{{"event", "message_received"},
                                  {"inbox", api::inbox_json(*inbox)},
                                  {"message", summary}});
      }
      return;
    }
    case K::message_deleted:
      cache.erase(ev.inbox_id, ev.message_id);
      break;
    case K::inbox_deleted:
      cache.erase_inbox(ev.inbox_id);
      webhooks.erase(ev.inbox_id);
      break;
    case K::inbox_cleared:
      cache.erase_inbox(ev.inbox_id);
      break;
    default:
      break;
  }
  feed.publish(ev, nullptr);
}

HttpApi::HttpApi(Hub& hub, const std::string& listen_host, std::uint16_t port,
                 std::string api_token, ApiSettings settings)
    : impl_(std::make_unique<Impl>(hub, listen_host, port, std::move(api_token),
                                   std::move(settings))) {}

HttpApi::~HttpApi() {
  stop();
}

std::uint16_t HttpApi::port() const {
  return impl_->server ? impl_->server->port() : impl_->port;
}

void HttpApi::start() {
  auto* impl = impl_.get();
  std::error_code ec;
  const auto address = asio::ip::make_address(impl->listen_host, ec);
  if (!ec && !address.is_loopback() && impl->token.empty()) {
    throw std::runtime_error("the HTTP API on " + impl->listen_host +
                             " (not loopback) needs an API token (--api-token)");
  }
  impl->server =
      std::make_unique<http::Server>(impl->listen_host, impl->port, http::ServerLimits::defaults(),
                                     [impl](http::Request& req) { return impl->handle(req); });
  impl->webhooks.start();
  impl->subscription = impl->hub.subscribe([impl](const Event& ev) { impl->on_event(ev); });
  impl->server->start();
}

void HttpApi::stop() {
  auto* impl = impl_.get();
  if (impl->stopping.exchange(true)) return;
  if (impl->subscription) impl->hub.unsubscribe(*impl->subscription);
  impl->waiters.wake_all();
  impl->feed.close_all();
  if (impl->server) impl->server->stop();
  impl->pool.join();
  impl->webhooks.stop();
}

std::size_t HttpApi::waiting() const {
  return impl_->waiters.size();
}

std::size_t HttpApi::streaming() const {
  return impl_->feed.size();
}

std::vector<std::pair<std::string, std::string>> HttpApi::routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& r : impl_->router.routes()) out.emplace_back(r.method, r.pattern);
  return out;
}

}  // namespace popbox::sandbox
