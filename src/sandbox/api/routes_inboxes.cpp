// Inbox routes: list, create, get, delete, clear.

#include "net/blocking.hpp"
#include "sandbox/api/api_impl.hpp"

namespace popbox::sandbox {

using api::json;

namespace {

// The InboxSpec of a POST body; nullopt with `error` set when invalid.
std::optional<InboxSpec> parse_spec(const json& j, std::string& error) {
  InboxSpec spec;
  if (!j.contains("address") || !j["address"].is_string()) {
    error = "\"address\" (a string) is required";
    return std::nullopt;
  }
  spec.address = j["address"].get<std::string>();
  if (j.contains("password") && !j["password"].is_null()) {
    if (!j["password"].is_string()) return error = "\"password\" must be a string", std::nullopt;
    spec.password = j["password"].get<std::string>();
  }
  if (j.contains("ttl") && !j["ttl"].is_null()) {
    const auto& t = j["ttl"];
    std::optional<std::chrono::milliseconds> d;
    if (t.is_number_unsigned()) d = std::chrono::seconds(t.get<std::uint64_t>());
    if (t.is_string()) d = api::parse_duration(t.get<std::string>());
    if (!d || d->count() <= 0) {
      error = "\"ttl\" must be a duration (\"30m\") or seconds";
      return std::nullopt;
    }
    spec.ttl = std::chrono::duration_cast<std::chrono::seconds>(*d);
    if (spec.ttl->count() == 0) spec.ttl = std::chrono::seconds(1);
  }
  if (j.contains("max_messages") && !j["max_messages"].is_null()) {
    if (!j["max_messages"].is_number_unsigned()) {
      error = "\"max_messages\" must be a number >= 0";
      return std::nullopt;
    }
    spec.max_messages = j["max_messages"].get<std::size_t>();
  }
  return spec;
}

}  // namespace

void HttpApi::Impl::add_inbox_routes() {
  router.add("GET", "/api/v1/inboxes", [this](http::Request&) -> asio::awaitable<http::Response> {
    json list = json::array();
    for (const auto& i : hub.inboxes()) list.push_back(api::inbox_json(i));
    co_return api::json_response(200, json{{"inboxes", std::move(list)}});
  });

  router.add("POST", "/api/v1/inboxes",
             [this](http::Request& req) -> asio::awaitable<http::Response> {
               auto body = api::body_object(req);
               if (!body) co_return api::error_response(400, "the body must be a JSON object");
               std::string error;
               auto spec = parse_spec(*body, error);
               if (!spec) co_return api::error_response(400, error);
               auto* h = &hub;
               auto* s = &*spec;
               auto [ec, info] = co_await net::run_blocking(pool, [h, s] {
                 InboxInfo out;
                 std::error_code e = h->create_inbox(*s, out);
                 return std::pair{e, out};
               });
               if (ec) co_return api::hub_error(ec);
               co_return api::json_response(201, api::inbox_json(info));
             });

  router.add("GET", "/api/v1/inboxes/{id}",
             [this](http::Request& req) -> asio::awaitable<http::Response> {
               auto inbox = hub.inbox(req.param("id"));
               if (!inbox) co_return api::error_response(404, "no such inbox");
               co_return api::json_response(200, api::inbox_json(*inbox));
             });

  router.add("DELETE", "/api/v1/inboxes/{id}",
             [this](http::Request& req) -> asio::awaitable<http::Response> {
               auto* h = &hub;
               const std::string* id = &req.param("id");
               const std::error_code ec =
                   co_await net::run_blocking(pool, [h, id] { return h->delete_inbox(*id); });
               if (ec) co_return api::hub_error(ec);
               co_return api::no_content();
             });

  router.add("POST", "/api/v1/inboxes/{id}/clear",
             [this](http::Request& req) -> asio::awaitable<http::Response> {
               auto* h = &hub;
               const std::string* id = &req.param("id");
               const std::error_code ec =
                   co_await net::run_blocking(pool, [h, id] { return h->clear_inbox(*id); });
               if (ec) co_return api::hub_error(ec);
               co_return api::no_content();
             });
}

}  // namespace popbox::sandbox
