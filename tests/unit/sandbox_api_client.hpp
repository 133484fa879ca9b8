#pragma once
// Test helpers for the sandbox HTTP API: a FakeHub behind a real HttpApi on
// 127.0.0.1:0, a libcurl client for whole requests, and raw sockets for
// long-polls and event streams.

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "sandbox/api/http_api.hpp"
#include "sandbox_fake_hub.hpp"

namespace popbox::sandbox::testing {

using json = nlohmann::json;

struct Reply {
  long status = 0;
  std::map<std::string, std::string> headers;  ///< names lowercased
  std::string body;
  json json_body() const { return json::parse(body, nullptr, false); }
};

inline std::size_t curl_sink(char* p, std::size_t s, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, s * n);
  return s * n;
}

inline std::size_t curl_header(char* p, std::size_t s, std::size_t n, void* out) {
  std::string line(p, s * n);
  const auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    (*static_cast<std::map<std::string, std::string>*>(out))[name] = value;
  }
  return s * n;
}

/// One request with libcurl; `token` empty: no Authorization header.
inline Reply request(std::uint16_t port, const std::string& method, const std::string& target,
                     const std::string& body = "", const std::string& token = "") {
  Reply r;
  CURL* c = curl_easy_init();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + target;
  curl_slist* headers = nullptr;
  if (!token.empty())
    headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
  if (!body.empty()) headers = curl_slist_append(headers, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (!body.empty() || method == "POST" || method == "PUT") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_sink);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, curl_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
  const CURLcode rc = curl_easy_perform(c);
  EXPECT_EQ(rc, CURLE_OK) << curl_easy_strerror(rc) << " " << method << " " << target;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  return r;
}

/// A connected raw socket with a receive timeout (no test waits forever).
inline int connect_raw(std::uint16_t port, int timeout_s = 10) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  timeval tv{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

inline void send_all(int fd, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    ASSERT_GT(n, 0);
    done += static_cast<std::size_t>(n);
  }
}

/// Reads until `needle` is in what was read (or the peer closes / times out).
inline std::string read_until(int fd, const std::string& needle, std::string& have) {
  char buf[4096];
  while (have.find(needle) == std::string::npos) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    have.append(buf, static_cast<std::size_t>(n));
  }
  return have;
}

/// A FakeHub, an HttpApi with token "T0ken" over it, and request helpers.
class ApiFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    ApiSettings s;
    s.smtp = {"127.0.0.1", 2525};
    s.pop3 = Endpoint{"127.0.0.1", 1110};
    s.version = "test";
    s.web_assets = [](std::string_view path) -> std::optional<WebAssetView> {
      if (path == "/" || path == "/index.html")
        return WebAssetView{"text/html; charset=utf-8", "<!doctype html>ui"};
      if (path == "/assets/app.js") return WebAssetView{"text/javascript", "export {};"};
      return std::nullopt;
    };
    api = std::make_unique<HttpApi>(hub, "127.0.0.1", 0, token, std::move(s));
    api->start();
    port = api->port();
  }
  void TearDown() override { api->stop(); }

  Reply call(const std::string& method, const std::string& target, const std::string& body = "") {
    return request(port, method, target, body, token);
  }
  /// Creates an inbox through the API; its id.
  std::string make_inbox(const std::string& address) {
    auto r = call("POST", "/api/v1/inboxes", json{{"address", address}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json_body().value("id", "");
  }

  const std::string token = "T0ken";
  FakeHub hub;
  std::unique_ptr<HttpApi> api;
  std::uint16_t port = 0;
};

/// A small message with a subject, a From and a text body.
inline std::string mail(const std::string& subject,
                        const std::string& from = "Ann <ann@example.com>",
                        const std::string& body = "hello\r\n") {
  return "From: " + from + "\r\nTo: t@example.com\r\nSubject: " + subject + "\r\n\r\n" + body;
}

}  // namespace popbox::sandbox::testing
