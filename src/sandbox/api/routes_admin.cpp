// Per-inbox settings (webhook, faults), the sandbox's settings, the OpenAPI
// document and the web UI's assets.

#include "core/limits.hpp"
#include "net/blocking.hpp"
#include "sandbox/api/api_impl.hpp"
#include "sandbox/api/openapi.hpp"

namespace popbox::sandbox {

using api::json;

namespace {

json endpoint_json(const Endpoint& e) {
  return json{{"host", e.host}, {"port", e.port}};
}

constexpr const char* ui_csp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'";

}  // namespace

void HttpApi::Impl::add_admin_routes() {
  router.add("PUT", "/api/v1/inboxes/{id}/webhook",
             [this](http::Request& req) -> asio::awaitable<http::Response> {
               if (!hub.inbox(req.param("id"))) co_return api::error_response(404, "no such inbox");
               auto body = api::body_object(req);
               if (!body || !body->contains("url") || !(*body)["url"].is_string()) {
                 co_return api::error_response(400, "the body must be {\"url\", \"secret\"}");
               }
               api::WebhookConfig config{(*body)["url"].get<std::string>(), ""};
               if (!api::valid_webhook_url(config.url)) {
                 co_return api::error_response(400, "the url must be http:// or https://");
               }
               if (body->contains("secret") && !(*body)["secret"].is_null()) {
                 if (!(*body)["secret"].is_string())
                   co_return api::error_response(400, "\"secret\" must be a string");
                 config.secret = (*body)["secret"].get<std::string>();
               }
               webhooks.set(req.param("id"), std::move(config));
               co_return api::no_content();
             });

  router.add("GET", "/api/v1/inboxes/{id}/webhook",
             [this](http::Request& req) -> asio::awaitable<http::Response> {
               auto config = webhooks.get(req.param("id"));
               if (!config) co_return api::error_response(404, "no webhook");
               co_return api::json_response(
                   200, json{{"url", config->url}, {"has_secret", !config->secret.empty()}});
             });

  router.add("DELETE", "/api/v1/inboxes/{id}/webhook",
             [this](http::Request& req) -> asio::awaitable<http::Response> {
               if (!hub.inbox(req.param("id"))) co_return api::error_response(404, "no such inbox");
               webhooks.erase(req.param("id"));
               co_return api::no_content();
             });

  router.add("GET", "/api/v1/inboxes/{id}/webhook/deliveries",
             [this](http::Request& req) -> asio::awaitable<http::Response> {
               if (!hub.inbox(req.param("id"))) co_return api::error_response(404, "no such inbox");
               co_return api::json_response(200, webhooks.deliveries(req.param("id")));
             });

  router.add("PUT", "/api/v1/inboxes/{id}/faults",
             [this](http::Request& req) -> asio::awaitable<http::Response> {
               auto body = api::body_object(req);
               if (!body || !body->contains("faults") || !(*body)["faults"].is_array()) {
                 co_return api::error_response(400, "the body must be {\"faults\": [...]}");
               }
               std::vector<Fault> faults;
               for (const auto& f : (*body)["faults"]) {
                 std::string error;
                 auto fault = api::parse_fault(f, error);
                 if (!fault) co_return api::error_response(400, error);
                 faults.push_back(*fault);
               }
               auto* h = &hub;
               const std::string* id = &req.param("id");
               auto* fp = &faults;
               const std::error_code ec = co_await net::run_blocking(
                   pool, [h, id, fp] { return h->set_faults(*id, std::move(*fp)); });
               if (ec) co_return api::hub_error(ec);
               co_return api::no_content();
             });

  router.add("GET", "/api/v1/inboxes/{id}/faults",
             [this](http::Request& req) -> asio::awaitable<http::Response> {
               if (!hub.inbox(req.param("id"))) co_return api::error_response(404, "no such inbox");
               json list = json::array();
               for (const auto& f : hub.faults(req.param("id"))) list.push_back(api::fault_json(f));
               co_return api::json_response(200, json{{"faults", std::move(list)}});
             });

  router.add("DELETE", "/api/v1/inboxes/{id}/faults",
             [this](http::Request& req) -> asio::awaitable<http::Response> {
               auto* h = &hub;
               const std::string* id = &req.param("id");
               const std::error_code ec =
                   co_await net::run_blocking(pool, [h, id] { return h->set_faults(*id, {}); });
               if (ec) co_return api::hub_error(ec);
               co_return api::no_content();
             });

  router.add("GET", "/api/v1/settings", [this](http::Request&) -> asio::awaitable<http::Response> {
    const Limits l = hub.limits();
    const char* auth = settings.strict_auth ? "strict" : "any";
    json smtp = endpoint_json(settings.smtp);
    smtp["starttls"] = true;
    smtp["auth"] = auth;
    json pop3 = nullptr, pop3s = nullptr;
    if (settings.pop3) {
      pop3 = endpoint_json(*settings.pop3);
      pop3["stls"] = true;
      pop3["auth"] = auth;
    }
    if (settings.pop3s) {
      pop3s = endpoint_json(*settings.pop3s);
      pop3s["auth"] = auth;
    }
    co_return api::json_response(200, json{{"smtp", smtp},
                                           {"pop3", pop3},
                                           {"pop3s", pop3s},
                                           {"limits",
                                            {{"max_messages", l.max_messages},
                                             {"max_total_bytes", l.max_total_bytes},
                                             {"max_message_size", l.max_message_size}}},
                                           {"version", settings.version}});
  });

  router.add("GET", "/api/v1/openapi.json", [](http::Request&) -> asio::awaitable<http::Response> {
    http::Response res;
    res.body = std::string(api::openapi_document());
    co_return res;
  });

  auto asset = [this](http::Request& req) -> asio::awaitable<http::Response> {
    std::optional<WebAssetView> a;
    if (settings.web_assets) a = settings.web_assets(req.path);
    if (!a) co_return api::error_response(404, "not found");
    http::Response res;
    res.content_type = std::string(a->content_type);
    res.body = std::string(a->body);
    res.headers.emplace_back("X-Content-Type-Options", "nosniff");
    if (res.content_type.rfind("text/html", 0) == 0) {
      res.headers.emplace_back("Content-Security-Policy", ui_csp);
      res.headers.emplace_back("Cache-Control", "no-store");
    }
    co_return res;
  };
  router.add("GET", "/", asset);
  router.add("GET", "/index.html", asset);
  router.add("GET", "/assets/{name}", asset);
}

}  // namespace popbox::sandbox
