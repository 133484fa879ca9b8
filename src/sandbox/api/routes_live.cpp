// Routes that wait: GET .../wait (long-poll until N matching messages) and
// GET /api/v1/events (Server-Sent Events).

#include <asio/redirect_error.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <deque>

#include "core/limits.hpp"
#include "net/blocking.hpp"
#include "sandbox/api/api_impl.hpp"

namespace popbox::sandbox {

using api::json;

namespace {

// The criteria of a wait request; nullopt with `error` set when invalid.
std::optional<api::WaitCriteria> parse_criteria(const http::Request& req, std::string& error) {
  api::WaitCriteria c;
  if (auto v = req.query_param("count")) {
    if (v->empty() || v->size() > 6 || v->find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(*v) == 0 || std::stoul(*v) > limits::sandbox_wait_max_count) {
      error = "count must be 1.." + std::to_string(limits::sandbox_wait_max_count);
      return std::nullopt;
    }
    c.count = std::stoul(*v);
  }
  for (auto [name, slot] :
       {std::pair{"subject", &c.subject}, std::pair{"from", &c.from}, std::pair{"body", &c.body}}) {
    auto v = req.query_param(name);
    if (!v || v->empty()) continue;
    *slot = api::compile_pattern(*v, error);
    if (!*slot) {
      error = std::string(name) + ": " + error;
      return std::nullopt;
    }
  }
  return c;
}

// Unregisters a waiter however the request ends (answer, stop, dropped frame).
struct Registration {
  api::WaitRegistry& registry;
  std::shared_ptr<api::Waiter> waiter;
  ~Registration() { registry.remove(waiter); }
};

struct Subscription {
  api::EventFeed& feed;
  std::shared_ptr<api::SseClient> client;
  ~Subscription() { feed.remove(client); }
};

}  // namespace

void HttpApi::Impl::add_live_routes() {
  router.add(
      "GET", "/api/v1/inboxes/{id}/wait",
      [this](http::Request& req) -> asio::awaitable<http::Response> {
        const std::string& id = req.param("id");
        if (!hub.inbox(id)) co_return api::error_response(404, "no such inbox");
        std::string error;
        auto criteria = parse_criteria(req, error);
        if (!criteria) co_return api::error_response(400, error);
        std::chrono::milliseconds timeout = limits::sandbox_wait_default;
        if (auto t = req.query_param("timeout")) {
          auto d = api::parse_duration(*t);
          if (!d)
            co_return api::error_response(400, "timeout must be a duration (\"30s\") or seconds");
          timeout = std::min<std::chrono::milliseconds>(*d, limits::sandbox_wait_max);
        }
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        auto ex = co_await asio::this_coro::executor;
        auto waiter = std::make_shared<api::Waiter>(ex, id, std::move(*criteria));
        // Registered before the scan, so a message arriving during it is offered too
        // (the waiter ignores one offered twice).
        waiters.add(waiter);
        Registration registration{waiters, waiter};
        auto* self = this;
        api::Waiter* w = waiter.get();
        const std::string* idp = &id;
        co_await net::run_blocking(pool, [self, w, idp] {
          std::size_t total = 0;
          auto list = self->hub.messages(*idp, 0, SIZE_MAX, total);
          for (auto it = list.rbegin(); it != list.rend() && !w->done(); ++it) {  // oldest first
            std::error_code ec;
            if (auto p = self->cache.get(*idp, it->id, ec)) w->offer(*it, *p);
          }
          return 0;
        });
        waiter->timer().expires_at(deadline);
        while (!waiter->done() && !stopping) {
          std::error_code ec;
          co_await waiter->timer().async_wait(asio::redirect_error(asio::use_awaitable, ec));
          if (!ec || std::chrono::steady_clock::now() >= deadline) break;
        }
        if (waiter->done()) co_return api::json_response(200, waiter->result());
        co_return api::json_response(408,
                                     json{{"error", "timeout"}, {"matched", waiter->matched()}});
      });

  router.add(
      "GET", "/api/v1/events", [this](http::Request& req) -> asio::awaitable<http::Response> {
        std::optional<std::string> inbox = req.query_param("inbox");
        if (inbox && inbox->empty()) inbox.reset();
        if (inbox && !hub.inbox(*inbox)) co_return api::error_response(404, "no such inbox");
        auto ex = co_await asio::this_coro::executor;
        auto client = std::make_shared<api::SseClient>(ex, std::move(inbox));
        http::Response res;
        res.content_type = "text/event-stream";
        res.headers.emplace_back("Cache-Control", "no-store");
        res.headers.emplace_back("X-Accel-Buffering", "no");
        auto* self = this;
        res.stream = [self, client](http::StreamWriter& out) -> asio::awaitable<void> {
          self->feed.add(client);  // here, not in the handler: a HEAD never streams
          Subscription subscription{self->feed, client};
          const std::string hello = ": connected\n\n";
          if (!co_await out.write(hello)) co_return;
          std::deque<std::string> frames;
          std::string batch;
          const std::string keepalive = ": keepalive\n\n";
          for (;;) {
            if (!client->take(frames) || self->stopping) co_return;
            if (!frames.empty()) {
              batch.clear();
              for (auto& f : frames) batch += f;
              frames.clear();
              if (!co_await out.write(batch)) co_return;
              continue;
            }
            client->timer().expires_after(limits::sandbox_sse_keepalive);
            std::error_code ec;
            co_await client->timer().async_wait(asio::redirect_error(asio::use_awaitable, ec));
            if (!ec && !co_await out.write(keepalive)) co_return;
          }
        };
        co_return res;
      });
}

}  // namespace popbox::sandbox
