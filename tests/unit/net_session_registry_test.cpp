// The per-thread session registry behind `popbox who` and `kick`: a session
// is listed while its record lives, shows no user before login, and a kick
// ends an idle session at once but lets a busy one finish its command.
#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <thread>

#include "net/session_registry.hpp"
#include "net/watched_socket.hpp"
#include "pop3/session.hpp"

using popbox::net::ConnectionSet;
using popbox::net::SessionRecord;
using popbox::net::SessionRegistry;
using Conn = popbox::net::WatchedSocket<asio::ip::tcp::socket>;

namespace {

// An open socket: cancel() on it is real, and moving it initialises all.
asio::ip::tcp::socket open_socket(asio::io_context& io) {
  asio::ip::tcp::socket s(io);
  s.open(asio::ip::tcp::v4());
  return s;
}

struct Fixture {
  asio::io_context io;
  ConnectionSet set;
  Conn conn{open_socket(io), set};
  popbox::pop3::Session session{popbox::pop3::SessionOptions{}};
  std::string peer = "127.0.0.2:4000";
  std::uint64_t in = 10, out = 20;
};

}  // namespace

TEST(SessionRegistry, ListsASessionWhileItsRecordLives) {
  Fixture f;
  auto& reg = SessionRegistry::this_thread();
  const std::size_t before = reg.size();
  {
    SessionRecord r;
    r.start(7, f.peer, true, f.session, f.conn, f.in, f.out);
    ASSERT_EQ(reg.size(), before + 1);
    auto list = reg.list();
    ASSERT_FALSE(list.empty());
    const auto& s = list.back();
    EXPECT_EQ(s.id, 7u);
    EXPECT_EQ(s.user, "");
    EXPECT_EQ(s.peer, "127.0.0.2:4000");
    EXPECT_EQ(s.proto, "pop3s");
    EXPECT_EQ(s.tls, "");
    EXPECT_EQ(s.state, "authorization");
    EXPECT_EQ(s.bytes_in, 10u);
    f.out = 99;  // read live, not copied at start
    EXPECT_EQ(reg.list().back().bytes_out, 99u);
  }
  EXPECT_EQ(reg.size(), before);
}

TEST(SessionRegistry, EachThreadHasItsOwn) {
  Fixture f;
  SessionRecord r;
  r.start(8, f.peer, false, f.session, f.conn, f.in, f.out);
  std::size_t other = 1;
  std::thread t([&] { other = SessionRegistry::this_thread().size(); });
  t.join();
  EXPECT_EQ(other, 0u);
}

TEST(SessionRegistry, KickIdleClosesTheWaitBusyFinishesTheCommand) {
  Fixture idle, busy;
  SessionRecord a, b;
  a.start(11, idle.peer, false, idle.session, idle.conn, idle.in, idle.out);
  b.start(12, busy.peer, false, busy.session, busy.conn, busy.in, busy.out);
  idle.conn.idle = true;
  busy.conn.idle = false;
  auto& reg = SessionRegistry::this_thread();
  EXPECT_EQ(reg.kick_if([](const SessionRecord& r) { return r.id() == 12; }), 1u);
  EXPECT_TRUE(b.kicked());
  EXPECT_TRUE(busy.conn.stop_requested);  // after the current command
  EXPECT_FALSE(a.kicked());
  EXPECT_EQ(reg.kick_if([](const SessionRecord&) { return true; }), 1u);  // b not again
  EXPECT_TRUE(a.kicked());
  EXPECT_FALSE(idle.conn.stop_requested);  // its wait is cancelled instead
  // Nobody logged in: a kick by user name matches no one.
  EXPECT_EQ(reg.kick_if([](const SessionRecord& r) { return !r.user().empty(); }), 0u);
}
