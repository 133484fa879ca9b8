#pragma once
// Internals of HttpApi shared by its route files (not a public interface).

#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "http/router.hpp"
#include "http/server.hpp"
#include "sandbox/api/event_feed.hpp"
#include "sandbox/api/http_api.hpp"
#include "sandbox/api/json_views.hpp"
#include "sandbox/api/parse_cache.hpp"
#include "sandbox/api/waiters.hpp"
#include "sandbox/api/webhooks.hpp"

namespace popbox::sandbox {

struct HttpApi::Impl {
  Impl(Hub& h, std::string host, std::uint16_t p, std::string token, ApiSettings s);

  /// Every route (the Router the OpenAPI test walks too).
  void add_routes();
  void add_inbox_routes();
  void add_message_routes();
  void add_live_routes();
  void add_admin_routes();
  /// The top-level handler: token check, then the router.
  asio::awaitable<http::Response> handle(http::Request& req);
  bool authorized(const http::Request& req) const;
  /// Hub events arrive here (any thread) and are processed in order on the pool.
  void on_event(const Event& ev);
  void process(const Event& ev);

  Hub& hub;
  std::string listen_host;
  std::uint16_t port;
  std::string token;
  ApiSettings settings;
  asio::thread_pool pool;
  asio::strand<asio::thread_pool::executor_type> events;
  api::ParseCache cache;
  api::WaitRegistry waiters;
  api::EventFeed feed;
  api::Webhooks webhooks;
  http::Router router;
  std::unique_ptr<http::Server> server;
  std::optional<SubscriptionId> subscription;
  std::atomic<bool> stopping{false};
};

namespace api {

/// A JSON response.
http::Response json_response(unsigned status, const json& body);
/// {"error": text}.
http::Response error_response(unsigned status, std::string_view text);
/// 204 without a body.
http::Response no_content();
/// The response to a failed hub call.
http::Response hub_error(const std::error_code& ec);
/// The request body as a JSON object (an empty body is {}); nullopt when it is not one.
std::optional<json> body_object(const http::Request& req);

}  // namespace api

}  // namespace popbox::sandbox
