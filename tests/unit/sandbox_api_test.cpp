// The sandbox HTTP API's routes over a FakeHub and a real HttpApi: auth,
// inboxes, messages (paging, search, parsed, raw, HTML with its CSP,
// attachments, read, delete), faults, settings, the web UI's assets and the
// OpenAPI document naming exactly the routes the router knows.

#include <set>

#include "sandbox_api_client.hpp"

using namespace popbox::sandbox::testing;

namespace {

TEST_F(ApiFixture, TokenIsRequiredForTheApiNotForTheUi) {
  EXPECT_EQ(request(port, "GET", "/api/v1/inboxes").status, 401);
  EXPECT_EQ(request(port, "GET", "/api/v1/inboxes", "", "wrong").status, 401);
  EXPECT_EQ(request(port, "GET", "/api/v1/inboxes", "", "T0kenX").status, 401);
  const auto unauthorized = request(port, "GET", "/api/v1/inboxes");
  EXPECT_EQ(unauthorized.json_body().value("error", ""), "missing or wrong API token");
  EXPECT_EQ(call("GET", "/api/v1/inboxes").status, 200);
  EXPECT_EQ(request(port, "GET", "/api/v1/inboxes?token=T0ken").status, 200);
  auto ui = request(port, "GET", "/");
  EXPECT_EQ(ui.status, 200);
  EXPECT_EQ(ui.body, "<!doctype html>ui");
  EXPECT_NE(ui.headers["content-security-policy"].find("frame-ancestors 'none'"),
            std::string::npos);
  EXPECT_EQ(request(port, "GET", "/assets/app.js").body, "export {};");
  EXPECT_EQ(request(port, "GET", "/assets/missing.js").status, 404);
  EXPECT_EQ(request(port, "GET", "/nowhere").status, 404);
  EXPECT_EQ(call("PATCH", "/api/v1/inboxes").status, 405);
}

TEST(SandboxApi, NonLoopbackNeedsAToken) {
  FakeHub hub;
  popbox::sandbox::HttpApi open(hub, "0.0.0.0", 0, "", {});
  EXPECT_THROW(open.start(), std::runtime_error);
  popbox::sandbox::HttpApi busy(hub, "127.0.0.1", 0, "", {});
  busy.start();
  popbox::sandbox::HttpApi same_port(hub, "127.0.0.1", busy.port(), "", {});
  EXPECT_THROW(same_port.start(), std::runtime_error);
}

TEST_F(ApiFixture, InboxLifecycle) {
  auto created = call("POST", "/api/v1/inboxes",
                      json{{"address", "Signup@Example.com"},
                           {"password", "pw"},
                           {"ttl", "30m"},
                           {"max_messages", 5}}
                          .dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const json inbox = created.json_body();
  EXPECT_EQ(inbox["address"], "signup@example.com");
  EXPECT_EQ(inbox["has_password"], true);
  EXPECT_EQ(inbox["auto_created"], false);
  EXPECT_EQ(inbox["max_messages"], 5);
  EXPECT_TRUE(inbox["expires"].is_string());
  EXPECT_EQ(inbox["created"].get<std::string>().size(), 24u);  // 2026-12-02T04:05:06.789Z
  const std::string id = inbox["id"];
  EXPECT_EQ(call("POST", "/api/v1/inboxes", json{{"address", "signup@example.com"}}.dump()).status,
            409);
  EXPECT_EQ(call("POST", "/api/v1/inboxes", "{not json").status, 400);
  EXPECT_EQ(
      call("POST", "/api/v1/inboxes", json{{"address", "x@y"}, {"ttl", "soon"}}.dump()).status,
      400);
  EXPECT_EQ(call("GET", "/api/v1/inboxes/" + id).json_body()["address"], "signup@example.com");
  hub.deliver("other@example.com", mail("x"));  // auto-created
  const auto list = call("GET", "/api/v1/inboxes").json_body()["inboxes"];
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[1]["auto_created"], true);
  EXPECT_EQ(list[1]["messages"], 1);
  EXPECT_EQ(list[1]["unread"], 1);
  hub.deliver("signup@example.com", mail("y"));
  EXPECT_EQ(call("POST", "/api/v1/inboxes/" + id + "/clear").status, 204);
  EXPECT_EQ(call("GET", "/api/v1/inboxes/" + id).json_body()["messages"], 0);
  EXPECT_EQ(call("DELETE", "/api/v1/inboxes/" + id).status, 204);
  EXPECT_EQ(call("GET", "/api/v1/inboxes/" + id).status, 404);
  EXPECT_EQ(call("DELETE", "/api/v1/inboxes/" + id).status, 404);
}

TEST_F(ApiFixture, MessagesPageNewestFirstAndSearch) {
  const std::string id = make_inbox("box@example.com");
  for (int i = 0; i < 7; ++i) {
    hub.deliver("box@example.com", mail("Order " + std::to_string(i),
                                        i == 3 ? "Zoe Quinn <zq@shop.example>" : "a@example.com"));
  }
  auto page = call("GET", "/api/v1/inboxes/" + id + "/messages?offset=2&limit=3").json_body();
  EXPECT_EQ(page["total"], 7);
  EXPECT_EQ(page["offset"], 2);
  EXPECT_EQ(page["limit"], 3);
  ASSERT_EQ(page["messages"].size(), 3u);
  EXPECT_EQ(page["messages"][0]["subject"], "Order 4");
  EXPECT_EQ(page["messages"][2]["subject"], "Order 2");
  const auto s = call("GET", "/api/v1/inboxes/" + id + "/messages?search=ORDER%205").json_body();
  ASSERT_EQ(s["messages"].size(), 1u);
  EXPECT_EQ(s["total"], 1);
  EXPECT_EQ(s["messages"][0]["subject"], "Order 5");
  const auto byname = call("GET", "/api/v1/inboxes/" + id + "/messages?search=zoe").json_body();
  ASSERT_EQ(byname["messages"].size(), 1u);
  EXPECT_EQ(byname["messages"][0]["from"]["address"], "zq@shop.example");
  EXPECT_EQ(call("GET", "/api/v1/inboxes/" + id + "/messages?search=shop.EX").json_body()["total"],
            1);
  EXPECT_EQ(call("GET", "/api/v1/inboxes/" + id + "/messages?limit=0").status, 400);
  EXPECT_EQ(call("GET", "/api/v1/inboxes/" + id + "/messages?limit=x").status, 400);
  EXPECT_EQ(call("GET", "/api/v1/inboxes/nope/messages").status, 404);
  // Lists are served from the parse cache: a second listing reads nothing.
  const int reads = hub.raw_calls;
  call("GET", "/api/v1/inboxes/" + id + "/messages");
  EXPECT_EQ(hub.raw_calls, reads);
}

const std::string rich =
    "From: Shop <shop@example.com>\r\n"
    "To: box@example.com\r\n"
    "Cc: c@example.com\r\n"
    "Subject: =?UTF-8?B?V2VsY29tZSDinJM=?=\r\n"
    "Message-ID: <m1@example.com>\r\n"
    "Content-Type: multipart/mixed; boundary=mix\r\n"
    "\r\n"
    "--mix\r\n"
    "Content-Type: multipart/related; boundary=rel\r\n"
    "\r\n"
    "--rel\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<p>Click <a href=\"https://example.com/verify?x=1\">here</a><img src=\"cid:logo\"></p>"
    "<script>alert(1)</script>\r\n"
    "--rel\r\n"
    "Content-Type: image/gif\r\n"
    "Content-ID: <logo>\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "R0lGODlhAQABAAAAACw=\r\n"
    "--rel--\r\n"
    "--mix\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Disposition: attachment; filename=\"data \\\"1\\\".bin\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "AAECAwQF/w==\r\n"
    "--mix--\r\n";

TEST_F(ApiFixture, MessageParsedRawHtmlAndAttachments) {
  const std::string id = make_inbox("box@example.com");
  // Raw keeps every octet: bare LF, 8-bit bytes, no final newline.
  const std::string odd = "Subject: odd\n\nline\r\nbare\nlf \xff\xfe end";
  const std::string oid = hub.deliver("box@example.com", odd);
  auto raw = call("GET", "/api/v1/inboxes/" + id + "/messages/" + oid + "/raw");
  EXPECT_EQ(raw.status, 200);
  EXPECT_EQ(raw.body, odd);
  EXPECT_EQ(raw.headers["content-type"], "message/rfc822");
  EXPECT_EQ(call("GET", "/api/v1/inboxes/" + id + "/messages/" + oid).status,
            200);  // 8-bit: no throw
  EXPECT_EQ(call("GET", "/api/v1/inboxes/" + id + "/messages/" + oid + "/html").status, 404);

  const std::string mid = hub.deliver("box@example.com", rich, "bounce@example.com");
  const json m = call("GET", "/api/v1/inboxes/" + id + "/messages/" + mid).json_body();
  EXPECT_EQ(m["subject"], "Welcome ✓");
  EXPECT_EQ(m["from"]["name"], "Shop");
  EXPECT_EQ(m["cc"][0]["address"], "c@example.com");
  EXPECT_EQ(m["message_id"], "m1@example.com");
  EXPECT_TRUE(m["text"].is_null());
  EXPECT_EQ(m["has_attachments"], true);
  EXPECT_EQ(m["links"], json::array({"https://example.com/verify?x=1"}));
  EXPECT_EQ(m["envelope"]["from"], "bounce@example.com");
  EXPECT_EQ(m["envelope"]["to"], json::array({"box@example.com"}));
  ASSERT_EQ(m["attachments"].size(), 2u);
  EXPECT_EQ(m["attachments"][0]["inline"], true);
  EXPECT_EQ(m["attachments"][1]["size"], 7);
  EXPECT_EQ(m["size"], rich.size());

  const std::string base = "/api/v1/inboxes/" + id + "/messages/" + mid;
  auto html = call("GET", base + "/html");
  EXPECT_EQ(html.status, 200);
  EXPECT_NE(html.body.find("<img src=\"" + base + "/attachments/0\">"), std::string::npos);
  const std::string csp = html.headers["content-security-policy"];
  EXPECT_EQ(
      csp.rfind("default-src 'none'; style-src 'unsafe-inline'; img-src data: cid: http://", 0), 0u)
      << csp;
  EXPECT_NE(csp.find(base + "/attachments/; frame-ancestors 'self'; sandbox"), std::string::npos);
  EXPECT_EQ(csp.find("https:"), std::string::npos);
  auto remote = request(port, "GET", base + "/html?remote_images=1&token=T0ken");
  EXPECT_NE(remote.headers["content-security-policy"].find(" https: http:;"), std::string::npos);
  EXPECT_NE(remote.body.find("/attachments/0?token=T0ken"), std::string::npos);

  auto att = call("GET", base + "/attachments/1");
  EXPECT_EQ(att.status, 200);
  EXPECT_EQ(att.body, std::string("\x00\x01\x02\x03\x04\x05\xff", 7));
  EXPECT_EQ(att.headers["content-type"], "application/octet-stream");
  // Quotes never end the quoted name; filename* keeps the name as sent (RFC 6266).
  EXPECT_EQ(att.headers["content-disposition"],
            "attachment; filename=\"data _1_.bin\"; filename*=UTF-8''data%20%221%22.bin");
  EXPECT_EQ(att.headers["x-content-type-options"], "nosniff");
  EXPECT_EQ(call("GET", base + "/attachments/2").status, 404);
  EXPECT_EQ(call("GET", base + "/attachments/x").status, 404);

  EXPECT_EQ(call("POST", base + "/read", "{}").status, 204);
  EXPECT_EQ(call("GET", base).json_body()["read"], true);
  EXPECT_EQ(call("POST", base + "/read", json{{"read", false}}.dump()).status, 204);
  EXPECT_EQ(call("GET", base).json_body()["read"], false);
  EXPECT_EQ(call("POST", base + "/read", json{{"read", 1}}.dump()).status, 400);
  EXPECT_EQ(call("DELETE", base).status, 204);
  EXPECT_EQ(call("GET", base).status, 404);
  EXPECT_EQ(call("GET", base + "/raw").status, 404);
}

TEST_F(ApiFixture, FaultsRoundTrip) {
  const std::string id = make_inbox("f@example.com");
  const json faults = {{"faults",
                        {{{"kind", "pop3_login_temp"}, {"probability", 0.5}},
                         {{"kind", "pop3_drop_retr"}, {"after_octets", 100}},
                         {{"kind", "smtp_rcpt"}, {"smtp_code", 550}},
                         {{"kind", "smtp_delay"}, {"delay_ms", 250}}}}};
  EXPECT_EQ(call("PUT", "/api/v1/inboxes/" + id + "/faults", faults.dump()).status, 204);
  const json got = call("GET", "/api/v1/inboxes/" + id + "/faults").json_body();
  ASSERT_EQ(got["faults"].size(), 4u);
  EXPECT_EQ(got["faults"][0]["kind"], "pop3_login_temp");
  EXPECT_EQ(got["faults"][0]["probability"], 0.5);
  EXPECT_EQ(got["faults"][1]["after_octets"], 100);
  EXPECT_EQ(got["faults"][2]["smtp_code"], 550);
  EXPECT_EQ(got["faults"][3]["delay_ms"], 250);
  EXPECT_EQ(hub.faults(id).size(), 4u);
  auto bad = [&](const json& f) {
    return call("PUT", "/api/v1/inboxes/" + id + "/faults", json{{"faults", {f}}}.dump()).status;
  };
  EXPECT_EQ(bad({{"kind", "nope"}}), 400);
  EXPECT_EQ(bad({{"kind", "smtp_mail"}, {"probability", 2}}), 400);
  EXPECT_EQ(bad({{"kind", "smtp_mail"}, {"smtp_code", 250}}), 400);
  EXPECT_EQ(bad({{"kind", "pop3_delay"}, {"delay_ms", -1}}), 400);
  EXPECT_EQ(hub.faults(id).size(), 4u);  // a refused PUT changes nothing
  EXPECT_EQ(call("DELETE", "/api/v1/inboxes/" + id + "/faults").status, 204);
  EXPECT_EQ(call("GET", "/api/v1/inboxes/" + id + "/faults").json_body()["faults"].size(), 0u);
  EXPECT_EQ(call("PUT", "/api/v1/inboxes/zzz/faults", faults.dump()).status, 404);
}

TEST_F(ApiFixture, Settings) {
  hub.limits_value = {100, 1 << 20, 4096};
  const json s = call("GET", "/api/v1/settings").json_body();
  EXPECT_EQ(s["smtp"]["port"], 2525);
  EXPECT_EQ(s["smtp"]["starttls"], true);
  EXPECT_EQ(s["pop3"]["auth"], "any");
  EXPECT_TRUE(s["pop3s"].is_null());
  EXPECT_EQ(s["limits"]["max_message_size"], 4096);
  EXPECT_EQ(s["version"], "test");
}

TEST_F(ApiFixture, OpenApiNamesExactlyTheRoutes) {
  const auto doc = call("GET", "/api/v1/openapi.json");
  ASSERT_EQ(doc.status, 200);
  const json j = doc.json_body();
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["openapi"], "3.1.0");
  std::set<std::string> documented, routed;
  for (const auto& [path, ops] : j["paths"].items()) {
    for (const auto& [method, _] : ops.items()) documented.insert(method + " " + path);
  }
  for (const auto& [method, pattern] : api->routes()) {
    std::string m = method;
    for (auto& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    routed.insert(m + " " + pattern);
  }
  EXPECT_EQ(documented, routed);
}

TEST_F(ApiFixture, KeepAliveAndBadRequests) {
  const int fd = connect_raw(port);
  const std::string get = "GET /api/v1/settings?token=T0ken HTTP/1.1\r\nHost: x\r\n\r\n";
  send_all(fd, get + get);  // pipelined on one connection
  std::string have;
  read_until(fd, "\"version\":\"test\"}", have);
  const auto first = have.find("\"version\":\"test\"}");
  ASSERT_NE(first, std::string::npos);
  std::string rest = have.substr(first + 10);
  read_until(fd, "\"version\":\"test\"}", rest);
  EXPECT_NE(rest.find("\"version\":\"test\"}"), std::string::npos);
  ::close(fd);
  const int big = connect_raw(port);
  send_all(big, "GET / HTTP/1.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n");
  std::string refused;
  read_until(big, "\r\n\r\n", refused);
  EXPECT_EQ(refused.rfind("HTTP/1.1 431", 0), 0u) << refused.substr(0, 40);
  ::close(big);
  const std::string body(70000, ' ');
  EXPECT_EQ(call("POST", "/api/v1/inboxes", body).status, 413);
}

}  // namespace
