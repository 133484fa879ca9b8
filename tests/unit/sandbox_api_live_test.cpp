// The sandbox API's waiting routes: wait returns what exists, returns on
// arrival, answers 408 at its timeout, matches by regex; 2,000 concurrent
// waits (memory reported); Server-Sent Events; webhooks signed with
// HMAC-SHA256 and retried after a failing receiver.

#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include <asio/io_context.hpp>
#include <deque>

#include "auth/scram.hpp"
#include "core/limits.hpp"
#include "sandbox/api/event_feed.hpp"
#include "sandbox/api/webhooks.hpp"
#include "sandbox_api_client.hpp"

using namespace popbox::sandbox::testing;

namespace {

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

// Sends a wait request on a raw socket (the response is read later).
int start_wait(std::uint16_t port, const std::string& query) {
  const int fd = connect_raw(port, 30);
  send_all(fd, "GET /api/v1/inboxes/" + query +
                   " HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer T0ken\r\n\r\n");
  return fd;
}

template <class Pred>
bool eventually(Pred p) {
  for (int i = 0; i < 2000; ++i) {
    if (p()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return p();
}

TEST_F(ApiFixture, WaitReturnsWhatExistsOldestFirst) {
  const std::string id = make_inbox("w@example.com");
  hub.deliver("w@example.com", mail("first"));
  hub.deliver("w@example.com", mail("second"));
  const auto r = call("GET", "/api/v1/inboxes/" + id + "/wait?count=2&timeout=5s");
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.json_body();
  ASSERT_EQ(j["messages"].size(), 2u);
  EXPECT_EQ(j["messages"][0]["subject"], "first");
  EXPECT_EQ(j["messages"][1]["subject"], "second");
}

TEST_F(ApiFixture, WaitReturnsOnArrivalAndMatchesRegexes) {
  const std::string id = make_inbox("w@example.com");
  hub.deliver("w@example.com", mail("Newsletter"));
  const int fd = start_wait(
      port, id + "/wait?subject=reset%20your&from=^ops@&body=code:%20%5Cd%7B6%7D&timeout=20s");
  ASSERT_TRUE(eventually([&] { return api->waiting() == 1; }));
  hub.deliver("w@example.com", mail("RESET your password", "ann@example.com", "code: 123456\r\n"));
  hub.deliver("w@example.com", mail("Reset your password", "OPS@example.com", "no code\r\n"));
  hub.deliver("w@example.com",
              mail("Please reset YOUR password", "Ops@example.com", "code: 654321\r\n"));
  std::string have;
  read_until(fd, "}]}", have);
  ::close(fd);
  EXPECT_EQ(have.rfind("HTTP/1.1 200", 0), 0u) << have;
  EXPECT_NE(have.find("Please reset YOUR password"), std::string::npos) << have;
  EXPECT_EQ(have.find("\"RESET your"), std::string::npos);
  EXPECT_TRUE(eventually([&] { return api->waiting() == 0; }));
}

TEST_F(ApiFixture, WaitAnswers408AtTheTimeout) {
  const std::string id = make_inbox("w@example.com");
  hub.deliver("w@example.com", mail("one"));
  const auto r = call("GET", "/api/v1/inboxes/" + id + "/wait?count=2&timeout=300ms");
  EXPECT_EQ(r.status, 408);
  EXPECT_EQ(r.json_body(), (json{{"error", "timeout"}, {"matched", 1}}));
  EXPECT_EQ(call("GET", "/api/v1/inboxes/" + id + "/wait?subject=(&timeout=1s").status, 400);
  EXPECT_EQ(call("GET", "/api/v1/inboxes/" + id + "/wait?subject=" + std::string(300, 'a')).status,
            400);
  EXPECT_EQ(call("GET", "/api/v1/inboxes/" + id + "/wait?count=0").status, 400);
  EXPECT_EQ(call("GET", "/api/v1/inboxes/" + id + "/wait?timeout=soon").status, 400);
  EXPECT_EQ(call("GET", "/api/v1/inboxes/nope/wait").status, 404);
  EXPECT_EQ(api->waiting(), 0u);
}

TEST_F(ApiFixture, TwoThousandConcurrentWaits) {
  constexpr int waits = 2000;
  const std::string id = make_inbox("many@example.com");
  const long before = rss_kib();
  std::vector<int> fds;
  for (int i = 0; i < waits; ++i)
    fds.push_back(start_wait(port, id + "/wait?subject=go&timeout=60s"));
  ASSERT_TRUE(eventually([&] { return api->waiting() == waits; })) << api->waiting();
  const long during = rss_kib();
  const double per_wait = static_cast<double>(during - before) * 1024.0 / waits;
  std::printf(
      "[ measure  ] %d concurrent waits: RSS %ld -> %ld KiB, %.0f bytes per wait "
      "(server and client sockets together)\n",
      waits, before, during, per_wait);
  RecordProperty("rss_bytes_per_wait", static_cast<int>(per_wait));
  EXPECT_LT(per_wait, 64 * 1024);
  hub.deliver("many@example.com", mail("go now"));
  int answered = 0;
  for (int fd : fds) {
    std::string have;
    read_until(fd, "}]}", have);
    if (have.rfind("HTTP/1.1 200", 0) == 0 && have.find("go now") != std::string::npos) ++answered;
    ::close(fd);
  }
  EXPECT_EQ(answered, waits);
  EXPECT_TRUE(eventually([&] { return api->waiting() == 0; }));
}

TEST_F(ApiFixture, ServerSentEvents) {
  const std::string id = make_inbox("sse@example.com");
  const int fd = connect_raw(port);
  send_all(fd, "GET /api/v1/events?inbox=" + id + "&token=T0ken HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string have;
  read_until(fd, ": connected\n\n", have);
  ASSERT_NE(have.find("Content-Type: text/event-stream"), std::string::npos) << have;
  ASSERT_TRUE(eventually([&] { return api->streaming() == 1; }));
  hub.deliver("elsewhere@example.com", mail("not for this stream"));
  const std::string mid = hub.deliver("sse@example.com", mail("live!"));
  // Events are processed after the change: a message deleted before that
  // has no summary to show, so let the arrival reach the stream first.
  read_until(fd, "\"subject\":\"live!\"", have);
  ASSERT_EQ(call("POST", "/api/v1/inboxes/" + id + "/messages/" + mid + "/read").status, 204);
  ASSERT_EQ(call("DELETE", "/api/v1/inboxes/" + id + "/messages/" + mid).status, 204);
  read_until(fd, "event: message_deleted\n", have);
  read_until(fd, "\n\n", have);
  ::close(fd);
  EXPECT_EQ(have.find("not for this stream"), std::string::npos);
  const auto rec = have.find("event: message_received\nid: ");
  ASSERT_NE(rec, std::string::npos) << have;
  const auto data = have.find("data: ", rec);
  const json ev = json::parse(have.substr(data + 6, have.find('\n', data) - data - 6));
  EXPECT_EQ(ev["kind"], "message_received");
  EXPECT_EQ(ev["inbox_id"], id);
  EXPECT_EQ(ev["message_id"], mid);
  EXPECT_EQ(ev["summary"]["subject"], "live!");
  EXPECT_LT(rec, have.find("event: message_read\n"));
  EXPECT_LT(have.find("event: message_read\n"), have.find("event: message_deleted\n"));
}

// A one-thread HTTP receiver answering `statuses` in turn (then 200),
// recording every request it got.
class Receiver {
 public:
  explicit Receiver(std::vector<int> statuses) : statuses_(std::move(statuses)) {
    listen_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listen_, 16);
    socklen_t len = sizeof a;
    ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~Receiver() {
    ::shutdown(listen_, SHUT_RDWR);
    ::close(listen_);
    thread_.join();
  }
  std::uint16_t port() const { return port_; }
  std::vector<std::string> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void run() {
    for (std::size_t n = 0;; ++n) {
      const int fd = ::accept(listen_, nullptr, nullptr);
      if (fd < 0) return;
      timeval tv{5, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::string req;
      read_until(fd, "\r\n\r\n", req);
      const auto cl = req.find("Content-Length: ");
      const std::size_t length = cl == std::string::npos ? 0 : std::stoul(req.substr(cl + 16));
      const std::size_t head = req.find("\r\n\r\n") + 4;
      char buf[4096];
      while (req.size() < head + length) {
        const ssize_t got = ::recv(fd, buf, sizeof buf, 0);
        if (got <= 0) break;
        req.append(buf, static_cast<std::size_t>(got));
      }
      const int status = n < statuses_.size() ? statuses_[n] : 200;
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(req);
      }
      const std::string reply = "HTTP/1.1 " + std::to_string(status) +
                                " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(fd);
    }
  }
  std::vector<int> statuses_;
  int listen_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> requests_;
};

std::string header_of(const std::string& req, const std::string& name) {
  const auto at = req.find("\r\n" + name + ": ");
  if (at == std::string::npos) return "";
  const auto start = at + name.size() + 4;
  return req.substr(start, req.find("\r\n", start) - start);
}

TEST_F(ApiFixture, WebhookSignedAndRetried) {
  Receiver receiver({500});  // the first attempt fails, the retry succeeds
  const std::string id = make_inbox("hook@example.com");
  const std::string url = "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hook";
  EXPECT_EQ(call("PUT", "/api/v1/inboxes/" + id + "/webhook",
                 json{{"url", "ftp://x/"}, {"secret", "s"}}.dump())
                .status,
            400);
  EXPECT_EQ(call("GET", "/api/v1/inboxes/" + id + "/webhook").status, 404);
  ASSERT_EQ(call("PUT", "/api/v1/inboxes/" + id + "/webhook",
                 json{{"url", url}, {"secret", "k3y"}}.dump())
                .status,
            204);
  EXPECT_EQ(call("GET", "/api/v1/inboxes/" + id + "/webhook").json_body(),
            (json{{"url", url}, {"has_secret", true}}));
  const std::string mid = hub.deliver("hook@example.com", mail("hooked"));
  ASSERT_TRUE(eventually([&] { return receiver.requests().size() >= 2; }));
  const auto reqs = receiver.requests();
  for (const auto& req : reqs) {
    EXPECT_EQ(req.rfind("POST /hook HTTP/1.1\r\n", 0), 0u);
    const std::string body = req.substr(req.find("\r\n\r\n") + 4);
    EXPECT_EQ(header_of(req, "X-Popbox-Signature"),
              popbox::sandbox::api::webhook_signature("k3y", body));
    EXPECT_EQ(header_of(req, "X-Popbox-Signature").size(), 7u + 64u);
    EXPECT_EQ(header_of(req, "X-Popbox-Event"), "message_received");
    EXPECT_EQ(header_of(req, "Content-Type"), "application/json");
    const json j = json::parse(body);
    EXPECT_EQ(j["event"], "message_received");
    EXPECT_EQ(j["inbox"]["id"], id);
    EXPECT_EQ(j["message"]["id"], mid);
    EXPECT_EQ(j["message"]["subject"], "hooked");
  }
  EXPECT_EQ(header_of(reqs[0], "X-Popbox-Delivery"), header_of(reqs[1], "X-Popbox-Delivery"));
  // Independently: the signature is the hex HMAC-SHA256 of the body.
  std::string hex;
  for (unsigned char c : popbox::auth::hmac_sha256("k3y", "{}")) {
    static const char d[] = "0123456789abcdef";
    hex += d[c >> 4];
    hex += d[c & 15];
  }
  EXPECT_EQ(popbox::sandbox::api::webhook_signature("k3y", "{}"), "sha256=" + hex);
  ASSERT_TRUE(eventually([&] {
    const auto d = call("GET", "/api/v1/inboxes/" + id + "/webhook/deliveries").json_body();
    return d["deliveries"].size() == 1 && d["deliveries"][0]["delivered"] == true;
  }));
  const json d =
      call("GET", "/api/v1/inboxes/" + id + "/webhook/deliveries").json_body()["deliveries"][0];
  EXPECT_EQ(d["attempt"], 2);
  EXPECT_EQ(d["status"], 200);
  EXPECT_TRUE(d["error"].is_null());
  EXPECT_TRUE(d["next_attempt"].is_null());
  EXPECT_EQ(d["message_id"], mid);
  EXPECT_EQ(call("DELETE", "/api/v1/inboxes/" + id + "/webhook").status, 204);
  EXPECT_EQ(call("GET", "/api/v1/inboxes/" + id + "/webhook").status, 404);
}

TEST_F(ApiFixture, WebhookToNobodyIsLoggedAsFailing) {
  // A port with no listener: connection refused, retried later.
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  const std::string id = make_inbox("dead@example.com");
  call("PUT", "/api/v1/inboxes/" + id + "/webhook",
       json{{"url", "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/"}}.dump());
  hub.deliver("dead@example.com", mail("x"));
  ASSERT_TRUE(eventually([&] {
    const auto d = call("GET", "/api/v1/inboxes/" + id + "/webhook/deliveries").json_body();
    return d["deliveries"].size() == 1 && d["deliveries"][0]["attempt"] == 1;
  }));
  const json d =
      call("GET", "/api/v1/inboxes/" + id + "/webhook/deliveries").json_body()["deliveries"][0];
  EXPECT_EQ(d["delivered"], false);
  EXPECT_TRUE(d["status"].is_null());
  EXPECT_TRUE(d["error"].is_string());
  EXPECT_TRUE(d["next_attempt"].is_string());
}

}  // namespace

namespace {

TEST(SandboxSse, SlowClientIsDroppedNotWaitedFor) {
  asio::io_context io;  // never run: the client never takes its frames
  popbox::sandbox::api::EventFeed feed;
  auto client = std::make_shared<popbox::sandbox::api::SseClient>(io.get_executor(), std::nullopt);
  feed.add(client);
  popbox::sandbox::Event ev{popbox::sandbox::Event::Kind::message_read, "i1", "m1", 1};
  for (std::size_t i = 0; i < popbox::limits::sandbox_sse_queue + 1; ++i) feed.publish(ev, nullptr);
  std::deque<std::string> frames;
  EXPECT_FALSE(client->take(frames));  // dropped: its stream ends
  EXPECT_TRUE(frames.empty());
  auto fresh = std::make_shared<popbox::sandbox::api::SseClient>(io.get_executor(), "i2");
  feed.add(fresh);
  feed.publish(ev, nullptr);  // another inbox: filtered out
  popbox::sandbox::Event other{popbox::sandbox::Event::Kind::inbox_cleared, "i2", "", 0};
  feed.publish(other, nullptr);
  EXPECT_TRUE(fresh->take(frames));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].rfind("event: inbox_cleared\nid: ", 0), 0u);
}

}  // namespace
