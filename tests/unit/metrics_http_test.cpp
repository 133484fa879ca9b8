// HttpServer over real loopback sockets, and the metrics endpoint's routing:
// exact reply bytes, a request head split at every byte offset, refusals of
// oversized heads and bodies, the connection cap, the whole-connection
// deadline and a prompt stop() with clients still connected.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "metrics/endpoint.hpp"
#include "metrics/http_server.hpp"

using namespace std::chrono_literals;
using popbox::metrics::HttpLimits;
using popbox::metrics::HttpReply;
using popbox::metrics::HttpRequest;
using popbox::metrics::HttpServer;

namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  int get() const { return fd_; }

 private:
  int fd_;
};

Fd connect_to(std::uint16_t port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{5, 0};  // no test waits forever on the server
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

void send_all(const Fd& fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return;  // the server may close early: the reply tells
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Everything the server sends until it closes (or 5 s pass).
std::string read_all(const Fd& fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

std::string exchange(std::uint16_t port, std::string_view request) {
  Fd fd = connect_to(port);
  send_all(fd, request);
  return read_all(fd);
}

HttpReply echo(const HttpRequest& req) {
  return HttpReply{200, "text/plain", req.method + " " + req.target};
}

HttpLimits small_limits() {
  HttpLimits l;
  l.max_connections = 3;
  l.header_limit = 512;
  l.deadline = 1000ms;
  return l;
}

constexpr char get_request[] = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
constexpr char get_reply[] =
    "HTTP/1.1 200 OK\r\nServer: popbox\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
    "Connection: close\r\n\r\nGET /metrics";

std::string status_line(const std::string& reply) {
  return reply.substr(0, reply.find("\r\n"));
}

}  // namespace

TEST(MetricsHttp, GetAndHeadExactBytes) {
  HttpServer s("127.0.0.1", 0, small_limits(), echo);
  s.start();
  EXPECT_EQ(exchange(s.port(), get_request), get_reply);
  // HEAD: the same head (Content-Length of the GET body), no body.
  EXPECT_EQ(exchange(s.port(), "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n"),
            "HTTP/1.1 200 OK\r\nServer: popbox\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n"
            "Connection: close\r\n\r\n");
  // HTTP/1.0 without Host is answered too; the reply says close.
  EXPECT_EQ(status_line(exchange(s.port(), "GET /a HTTP/1.0\r\n\r\n")), "HTTP/1.1 200 OK");
}

TEST(MetricsHttp, RequestSplitAtEveryOffset) {
  HttpServer s("127.0.0.1", 0, small_limits(), echo);
  s.start();
  const std::string req = get_request;
  for (std::size_t cut = 1; cut < req.size(); ++cut) {
    Fd fd = connect_to(s.port());
    send_all(fd, req.substr(0, cut));
    std::this_thread::sleep_for(2ms);  // two reads on the server
    send_all(fd, req.substr(cut));
    EXPECT_EQ(read_all(fd), get_reply) << "cut at " << cut;
  }
}

TEST(MetricsHttp, RefusesOversizedHeadsBodiesAndGarbage) {
  HttpServer s("127.0.0.1", 0, small_limits(), echo);
  s.start();
  struct Case {
    std::string request;
    std::string status;
  };
  const std::vector<Case> cases = {
      {"GET /" + std::string(600, 'a') + " HTTP/1.1\r\n\r\n",
       "HTTP/1.1 431 Request Header Fields Too Large"},
      {"GET / HTTP/1.1\r\n" + std::string(100, 'X') + ": y\r\n" + std::string(500, 'z'),
       "HTTP/1.1 431 Request Header Fields Too Large"},
      // No newline at all: refused once the buffer is full, not read on.
      {std::string(20000, 'G'), "HTTP/1.1 431 Request Header Fields Too Large"},
      {"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nx=1", "HTTP/1.1 413 Payload Too Large"},
      {"POST /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
       "HTTP/1.1 413 Payload Too Large"},
      {std::string("\x00\xff\r\n\r\n", 6), "HTTP/1.1 400 Bad Request"},
      {"GET\r\n\r\n", "HTTP/1.1 400 Bad Request"},
      {"GET / HTTP/1.1\r\nbad header\r\n\r\n", "HTTP/1.1 400 Bad Request"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(status_line(exchange(s.port(), c.request)), c.status) << c.request.substr(0, 40);
  }
  EXPECT_EQ(exchange(s.port(), get_request), get_reply);
}

TEST(MetricsHttp, ConnectionsBeyondTheCapAreClosedAtOnce) {
  HttpServer s("127.0.0.1", 0, small_limits(), echo);
  s.start();
  std::vector<Fd> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(connect_to(s.port()));
    send_all(idle.back(), "G");  // accepted and being read
  }
  std::this_thread::sleep_for(100ms);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(exchange(s.port(), get_request), "");  // closed unanswered
  EXPECT_LT(std::chrono::steady_clock::now() - started, 500ms);
  idle.pop_back();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(exchange(s.port(), get_request), get_reply);
}

TEST(MetricsHttp, OneDeadlineForTheWholeConnection) {
  HttpServer s("127.0.0.1", 0, small_limits(), echo);
  s.start();
  // One byte every 100 ms would keep a per-read timeout happy forever.
  Fd fd = connect_to(s.port());
  const auto started = std::chrono::steady_clock::now();
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) {
    if (::send(fd.get(), "X", 1, MSG_NOSIGNAL) != 1) closed = true;
    std::this_thread::sleep_for(100ms);
    char c;
    const ssize_t n = ::recv(fd.get(), &c, 1, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) closed = true;
  }
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(closed);
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 2000ms);
}

TEST(MetricsHttp, StopReturnsPromptlyWithClientsConnected) {
  HttpLimits l = small_limits();
  l.deadline = 60s;
  HttpServer s("127.0.0.1", 0, l, echo);
  s.start();
  Fd a = connect_to(s.port()), b = connect_to(s.port());
  send_all(a, "GET /metr");
  std::this_thread::sleep_for(100ms);
  const auto started = std::chrono::steady_clock::now();
  s.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 500ms);
  EXPECT_EQ(read_all(a), "");
  EXPECT_EQ(read_all(b), "");
  s.stop();  // idempotent
}

TEST(MetricsHttp, BindFailureNamesTheAddress) {
  HttpServer s("127.0.0.1", 0, small_limits(), echo);
  try {
    HttpServer again("127.0.0.1", s.port(), small_limits(), echo);
    FAIL() << "bound twice";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(s.port())),
              std::string::npos);
  }
  EXPECT_THROW(HttpServer("not-an-ip", 0, small_limits(), echo), std::runtime_error);
}

TEST(MetricsEndpoint, OnlyGetAndHeadOfMetricsRender) {
  int renders = 0;
  auto render = [&renders] {
    ++renders;
    return std::string("x 1\n");
  };
  struct Case {
    const char* method;
    const char* target;
    unsigned status;
  };
  const Case cases[] = {{"GET", "/metrics", 200},   {"HEAD", "/metrics", 200},
                        {"POST", "/metrics", 404},  {"DELETE", "/metrics", 404},
                        {"get", "/metrics", 404},   {"GET", "/metrics/", 404},
                        {"GET", "/metricsx", 404},  {"GET", "/", 404},
                        {"GET", "/metrics?x", 404}, {"GET", "/../etc/passwd", 404}};
  for (const auto& c : cases) {
    const HttpReply r = popbox::metrics::metrics_reply({c.method, c.target}, render);
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.target;
    if (c.status == 200) {
      EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
      EXPECT_EQ(r.body, "x 1\n");
    } else {
      EXPECT_EQ(r.body, "not found; try /metrics\n");
    }
  }
  EXPECT_EQ(renders, 2);
}

TEST(MetricsEndpoint, PublicListenAddresses) {
  using popbox::metrics::is_public_listen;
  for (const char* host : {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"}) {
    EXPECT_FALSE(is_public_listen(host)) << host;
  }
  for (const char* host : {"0.0.0.0", "::", "192.0.2.1", "10.0.0.1", "2001:db8::1", "localhost"}) {
    EXPECT_TRUE(is_public_listen(host)) << host;
  }
}
