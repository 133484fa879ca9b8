// Message routes: list (paging, search), get parsed, raw, HTML view,
// attachment download, delete, mark read.

#include <algorithm>

#include "core/limits.hpp"
#include "net/blocking.hpp"
#include "sandbox/api/api_impl.hpp"

namespace popbox::sandbox {

using api::json;

namespace {

std::string ascii_lower(std::string s) {
  for (auto& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

bool contains(const std::string& haystack, const std::string& lowered_needle) {
  return ascii_lower(haystack).find(lowered_needle) != std::string::npos;
}

// A query parameter as a non-negative number, `fallback` when absent;
// nullopt when present but not a number.
std::optional<std::size_t> number_param(const http::Request& req, std::string_view name,
                                        std::size_t fallback) {
  auto v = req.query_param(name);
  if (!v) return fallback;
  if (v->empty() || v->size() > 9 || v->find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return static_cast<std::size_t>(std::stoul(*v));
}

// A filename safe inside a quoted Content-Disposition parameter, plus the
// RFC 6266 / RFC 8187 filename* form for any non-ASCII name.
std::string disposition(const std::optional<std::string>& filename, std::size_t index) {
  const std::string name =
      filename && !filename->empty() ? *filename : "attachment-" + std::to_string(index);
  std::string ascii;
  std::string encoded;
  bool plain = true;
  static const char digits[] = "0123456789ABCDEF";
  for (unsigned char c : name) {
    const bool safe = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '/' && c != ';';
    ascii.push_back(safe ? static_cast<char>(c) : '_');
    if (!safe || c == ' ' || c == '%' || c == '\'') {
      plain = plain && safe;
      encoded += '%';
      encoded += digits[c >> 4];
      encoded += digits[c & 15];
    } else {
      encoded.push_back(static_cast<char>(c));
    }
  }
  std::string out = "attachment; filename=\"" + ascii + "\"";
  if (!plain) out += "; filename*=UTF-8''" + encoded;
  return out;
}

}  // namespace

void HttpApi::Impl::add_message_routes() {
  router.add(
      "GET", "/api/v1/inboxes/{id}/messages",
      [this](http::Request& req) -> asio::awaitable<http::Response> {
        const std::string& id = req.param("id");
        if (!hub.inbox(id)) co_return api::error_response(404, "no such inbox");
        const auto offset = number_param(req, "offset", 0);
        const auto limit = number_param(req, "limit", 50);
        if (!offset || !limit || *limit == 0 || *limit > limits::sandbox_max_page) {
          co_return api::error_response(400, "offset and limit must be numbers, limit 1.." +
                                                 std::to_string(limits::sandbox_max_page));
        }
        const std::string search = ascii_lower(req.query_param("search").value_or(""));
        auto* self = this;
        const std::string* idp = &id;
        const std::string* sp = &search;
        const std::size_t off = *offset, lim = *limit;
        json page = co_await net::run_blocking(pool, [self, idp, sp, off, lim] {
          std::size_t total = 0;
          json list = json::array();
          if (sp->empty()) {
            for (const auto& m : self->hub.messages(*idp, off, lim, total)) {
              std::error_code ec;
              if (auto p = self->cache.get(*idp, m.id, ec))
                list.push_back(api::summary_json(m, *p));
            }
          } else {
            std::size_t all = 0;
            std::size_t skipped = 0;
            for (const auto& m : self->hub.messages(*idp, 0, SIZE_MAX, all)) {
              std::error_code ec;
              auto p = self->cache.get(*idp, m.id, ec);
              if (!p) continue;
              const bool hit =
                  contains(p->subject, *sp) ||
                  (p->from && (contains(p->from->name, *sp) || contains(p->from->address, *sp)));
              if (!hit) continue;
              ++total;
              if (skipped++ < off || list.size() >= lim) continue;
              list.push_back(api::summary_json(m, *p));
            }
          }
          return json{
              {"total", total}, {"offset", off}, {"limit", lim}, {"messages", std::move(list)}};
        });
        co_return api::json_response(200, page);
      });

  router.add("GET", "/api/v1/inboxes/{id}/messages/{mid}",
             [this](http::Request& req) -> asio::awaitable<http::Response> {
               auto info = hub.message(req.param("id"), req.param("mid"));
               if (!info) co_return api::error_response(404, "no such message");
               auto* c = &cache;
               const MessageInfo* ip = &*info;
               auto [ec, parsed] = co_await net::run_blocking(pool, [c, ip] {
                 std::error_code e;
                 auto p = c->get(ip->inbox_id, ip->id, e);
                 return std::pair{e, p};
               });
               if (!parsed) co_return api::hub_error(ec);
               co_return api::json_response(200, api::message_json(*info, *parsed));
             });

  router.add("GET", "/api/v1/inboxes/{id}/messages/{mid}/raw",
             [this](http::Request& req) -> asio::awaitable<http::Response> {
               auto* h = &hub;
               const http::Request* r = &req;
               auto [ec, raw] = co_await net::run_blocking(pool, [h, r] {
                 std::string out;
                 std::error_code e = h->raw(r->param("id"), r->param("mid"), out);
                 return std::pair{e, std::move(out)};
               });
               if (ec) co_return api::hub_error(ec);
               http::Response res;
               res.content_type = "message/rfc822";
               res.body = std::move(raw);
               res.headers.emplace_back("X-Content-Type-Options", "nosniff");
               co_return res;
             });

  router.add(
      "GET", "/api/v1/inboxes/{id}/messages/{mid}/html",
      [this](http::Request& req) -> asio::awaitable<http::Response> {
        auto* c = &cache;
        const http::Request* r = &req;
        auto [ec, parsed] = co_await net::run_blocking(pool, [c, r] {
          std::error_code e;
          auto p = c->get(r->param("id"), r->param("mid"), e);
          return std::pair{e, p};
        });
        if (!parsed) co_return api::hub_error(ec);
        if (!parsed->html) co_return api::error_response(404, "the message has no HTML part");
        const std::string prefix = "/api/v1/inboxes/" + req.param("id") + "/messages/" +
                                   req.param("mid") + "/attachments/";
        std::string suffix;
        if (auto t = req.query_param("token"); t && !token.empty()) suffix = "?token=" + *t;
        // The attachment URLs as a CSP source; a Host that is not a plain
        // host[:port] (it could add directives) falls back to 'self'.
        const std::string* host = req.header("host");
        const bool plain_host =
            host && !host->empty() &&
            host->find_first_not_of(
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") ==
                std::string::npos;
        const std::string self_urls =
            plain_host ? "http://" + *host + prefix : std::string("'self'");
        const bool remote = req.query_param("remote_images").value_or("") == "1";
        http::Response res;
        res.content_type = "text/html; charset=utf-8";
        res.body = mime::rewrite_cids(*parsed->html, parsed->attachments, prefix, suffix);
        res.headers.emplace_back(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src data: cid: " + self_urls +
                (remote ? " https: http:" : "") + "; frame-ancestors 'self'; sandbox");
        res.headers.emplace_back("X-Content-Type-Options", "nosniff");
        res.headers.emplace_back("Referrer-Policy", "no-referrer");
        co_return res;
      });

  router.add("GET", "/api/v1/inboxes/{id}/messages/{mid}/attachments/{index}",
             [this](http::Request& req) -> asio::awaitable<http::Response> {
               const std::string& index_text = req.param("index");
               if (index_text.size() > 6 ||
                   index_text.find_first_not_of("0123456789") != std::string::npos) {
                 co_return api::error_response(404, "no such attachment");
               }
               const std::size_t index = std::stoul(index_text);
               auto* h = &hub;
               const http::Request* r = &req;
               auto [ec, data, found] = co_await net::run_blocking(pool, [h, r, index] {
                 std::string raw;
                 mime::AttachmentData d;
                 std::error_code e = h->raw(r->param("id"), r->param("mid"), raw);
                 const bool ok = !e && mime::extract_attachment(raw, index, d);
                 return std::tuple{e, std::move(d), ok};
               });
               if (ec) co_return api::hub_error(ec);
               if (!found) co_return api::error_response(404, "no such attachment");
               http::Response res;
               res.content_type = data.content_type;
               res.body = std::move(data.bytes);
               res.headers.emplace_back("Content-Disposition", disposition(data.filename, index));
               res.headers.emplace_back("X-Content-Type-Options", "nosniff");
               res.headers.emplace_back("Content-Security-Policy", "sandbox");
               co_return res;
             });

  router.add("DELETE", "/api/v1/inboxes/{id}/messages/{mid}",
             [this](http::Request& req) -> asio::awaitable<http::Response> {
               auto* h = &hub;
               const http::Request* r = &req;
               const std::error_code ec = co_await net::run_blocking(
                   pool, [h, r] { return h->delete_message(r->param("id"), r->param("mid")); });
               if (ec) co_return api::hub_error(ec);
               co_return api::no_content();
             });

  router.add("POST", "/api/v1/inboxes/{id}/messages/{mid}/read",
             [this](http::Request& req) -> asio::awaitable<http::Response> {
               auto body = api::body_object(req);
               if (!body) co_return api::error_response(400, "the body must be a JSON object");
               bool read = true;
               if (body->contains("read")) {
                 if (!(*body)["read"].is_boolean())
                   co_return api::error_response(400, "\"read\" must be a boolean");
                 read = (*body)["read"].get<bool>();
               }
               auto* h = &hub;
               const http::Request* r = &req;
               const std::error_code ec = co_await net::run_blocking(pool, [h, r, read] {
                 return h->mark_read(r->param("id"), r->param("mid"), read);
               });
               if (ec) co_return api::hub_error(ec);
               co_return api::no_content();
             });
}

}  // namespace popbox::sandbox
