// popbox::http: the router's patterns, percent and query decoding (tables),
// and the server over loopback: a request with a body split at every byte
// offset gives the same response, keep-alive serves several requests on one
// connection, and bad heads get their status.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "http/router.hpp"
#include "http/server.hpp"

using namespace popbox::http;

namespace {

TEST(HttpRouter, Patterns) {
  struct Case {
    const char* pattern;
    const char* path;
    bool match;
    const char* param;  // the value of the first parameter, if any
  };
  const Case cases[] = {
      {"/", "/", true, nullptr},
      {"/", "/x", false, nullptr},
      {"/a/{id}", "/a/42", true, "42"},
      {"/a/{id}", "/a/", false, nullptr},
      {"/a/{id}", "/a", false, nullptr},
      {"/a/{id}", "/a/4%2F2", true, "4/2"},
      {"/a/{id}", "/a/%zz", false, nullptr},
      {"/a/{id}/b", "/a/1/b", true, "1"},
      {"/a/{id}/b", "/a/1/c", false, nullptr},
      {"/a/{id}/b", "/a/1/b/c", false, nullptr},
      {"/a/b", "a/b", false, nullptr},
  };
  for (const auto& c : cases) {
    Fields params;
    EXPECT_EQ(match_pattern(c.pattern, c.path, params), c.match) << c.pattern << " " << c.path;
    if (c.match && c.param) {
      ASSERT_EQ(params.size(), 1u);
      EXPECT_EQ(params[0].second, c.param);
    }
  }
}

TEST(HttpRouter, MethodsAndStatus) {
  Router r;
  r.add("GET", "/x/{id}", [](Request&) -> asio::awaitable<Response> { co_return Response{}; });
  Request req;
  req.method = "POST";
  req.path = "/x/1";
  unsigned status = 0;
  EXPECT_EQ(r.match(req, status), nullptr);
  EXPECT_EQ(status, 405u);
  req.method = "HEAD";
  EXPECT_NE(r.match(req, status), nullptr);
  EXPECT_EQ(req.param("id"), "1");
  req.path = "/y";
  EXPECT_EQ(r.match(req, status), nullptr);
  EXPECT_EQ(status, 404u);
}

TEST(HttpMessage, PercentAndQuery) {
  EXPECT_EQ(percent_decode("a%20b+c", true).value(), "a b c");
  EXPECT_EQ(percent_decode("a+b", false).value(), "a+b");
  EXPECT_FALSE(percent_decode("%", true));
  EXPECT_FALSE(percent_decode("%4", true));
  EXPECT_FALSE(percent_decode("%g0", true));
  const Fields q = parse_query("a=1&&b=%41&c&d=%zz&e=x%3D");
  const Fields want{{"a", "1"}, {"b", "A"}, {"c", ""}, {"e", "x="}};
  EXPECT_EQ(q, want);
}

class Loopback : public ::testing::Test {
 protected:
  void SetUp() override {
    auto limits = ServerLimits::defaults();
    limits.max_request_head = 1024;
    limits.max_request_body = 256;
    server_ = std::make_unique<Server>(
        "127.0.0.1", 0, limits, [](Request& req) -> asio::awaitable<Response> {
          Response r;
          r.content_type = "text/plain";
          r.body = req.method + " " + req.path + " q=" + req.query_param("q").value_or("-") +
                   " body=" + req.body;
          co_return r;
        });
    server_->start();
  }
  int connect() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server_->port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
  }
  static void send_all(int fd, std::string_view s) {
    while (!s.empty()) {
      const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      ASSERT_GT(n, 0);
      s.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  static std::string read_reply(int fd, std::string_view end) {
    std::string have;
    char buf[2048];
    while (have.find(end) == std::string::npos) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      have.append(buf, static_cast<std::size_t>(n));
    }
    return have;
  }
  std::unique_ptr<Server> server_;
};

TEST_F(Loopback, RequestSplitAtEveryOffset) {
  const std::string request =
      "POST /p%20x?q=a%2Bb HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: "
      "close\r\n\r\nhello";
  const std::string want_body = "POST /p%20x q=a+b body=hello";
  for (std::size_t cut = 0; cut <= request.size(); ++cut) {
    const int fd = connect();
    send_all(fd, std::string_view(request).substr(0, cut));
    std::this_thread::sleep_for(
        std::chrono::microseconds(200));  // helps the split reach the server
    send_all(fd, std::string_view(request).substr(cut));
    const std::string reply = read_reply(fd, want_body);
    ::close(fd);
    ASSERT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << cut;
    ASSERT_NE(reply.find("\r\n\r\n" + want_body), std::string::npos) << cut << reply;
  }
}

TEST_F(Loopback, KeepAliveThenLimits) {
  const int fd = connect();
  send_all(fd, "GET /1 HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_NE(read_reply(fd, "GET /1 q=- body=").find("Content-Length: 16"), std::string::npos);
  send_all(fd, "GET /2?q=z HTTP/1.1\r\nHost: t\r\n\r\n");
  const std::string second = read_reply(fd, "GET /2 q=z body=");  // the same connection
  EXPECT_EQ(second.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << second;
  EXPECT_EQ(second.find("Connection: close"), std::string::npos);
  ::close(fd);

  const int big = connect();
  send_all(big, "GET / HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n");
  EXPECT_EQ(read_reply(big, "}").rfind("HTTP/1.1 431", 0), 0u);
  ::close(big);

  const int body = connect();
  send_all(body, "POST / HTTP/1.1\r\nContent-Length: 300\r\n\r\n" + std::string(300, 'b'));
  EXPECT_EQ(read_reply(body, "}").rfind("HTTP/1.1 413", 0), 0u);
  ::close(body);

  const int junk = connect();
  send_all(junk, "NOT HTTP AT ALL\r\n\r\n");
  EXPECT_EQ(read_reply(junk, "}").rfind("HTTP/1.1 400", 0), 0u);
  ::close(junk);
  EXPECT_EQ(server_->port() != 0, true);
}

TEST_F(Loopback, StopWithClientsConnected) {
  const int idle = connect();
  const int partial = connect();
  send_all(partial, "GET / HTTP/1.1\r\n");
  for (int i = 0; i < 200 && server_->connections() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  server_->stop();  // returns without waiting for either peer
  char c;
  EXPECT_LE(::recv(idle, &c, 1, 0), 0);
  ::close(idle);
  ::close(partial);
}

}  // namespace
