// The sandbox's POP3 side without sockets: decide_pop3, the Pop3Faults
// hooks, Pop3Store over an in-memory hub, the in-memory storage.
#include <gtest/gtest.h>

#include "core/dot_codec.hpp"
#include "sandbox/fault_plan.hpp"
#include "sandbox/inbox_hub.hpp"
#include "sandbox/pop3_faults.hpp"
#include "sandbox/pop3_store.hpp"

using namespace popbox::sandbox;
using std::chrono::milliseconds;
namespace store = popbox::store;

namespace {

Fault fault(Fault::Kind kind, double probability = 1.0) {
  Fault f;
  f.kind = kind;
  f.probability = probability;
  return f;
}

struct TestHub {
  TestHub() : hub(make_memory_storage(), Limits{}) {
    hub.subscribe([this](const Event& e) { events.push_back(e); });
  }
  MessageInfo send(const std::string& to, const std::string& body) {
    popbox::core::Spool spool;
    spool.append(body);
    Delivery d = hub.deliver("from@x.test", {to}, spool);
    EXPECT_FALSE(d.ec);
    return d.stored.at(0);
  }
  std::string inbox_id(const std::string& address) const {
    return hub.inbox_by_address(address).value().id;
  }
  std::string read_all(store::Mailbox& mb, std::size_t index) {
    std::error_code ec;
    auto r = mb.open(index, ec);
    EXPECT_FALSE(ec);
    std::string out;
    char buf[7];  // small: the reader is called many times
    while (std::size_t n = r->read(buf, ec)) out.append(buf, n);
    EXPECT_FALSE(ec);
    return out;
  }
  InboxHub hub;
  std::vector<Event> events;
};

}  // namespace

TEST(SandboxPop3Faults, DecidePop3ActsOnlyOnItsOccasion) {
  struct Case {
    Fault::Kind kind;
    Pop3Occasion fires_at;
  };
  const Case cases[] = {
      {Fault::Kind::pop3_login_temp, Pop3Occasion::login},
      {Fault::Kind::pop3_login_in_use, Pop3Occasion::login},
      {Fault::Kind::pop3_delay, Pop3Occasion::reply},
      {Fault::Kind::pop3_drop_retr, Pop3Occasion::retr},
      {Fault::Kind::pop3_dele_error, Pop3Occasion::dele},
      {Fault::Kind::smtp_rcpt, Pop3Occasion(-1)},  // an SMTP fault: never POP3
  };
  RandomSource random = [] { return 0.0; };
  for (const Case& c : cases) {
    Fault f = fault(c.kind);
    f.delay = milliseconds(300);
    f.after_octets = 42;
    for (auto occasion :
         {Pop3Occasion::login, Pop3Occasion::reply, Pop3Occasion::retr, Pop3Occasion::dele}) {
      auto out = decide_pop3({f}, occasion, random);
      const bool fired = out.login != Pop3FaultOutcome::Login::go_on || out.delay.count() != 0 ||
                         out.retr_cut || out.dele_error;
      EXPECT_EQ(fired, occasion == c.fires_at)
          << static_cast<int>(c.kind) << " at " << static_cast<int>(occasion);
    }
  }
  EXPECT_EQ(decide_pop3({fault(Fault::Kind::pop3_login_in_use)}, Pop3Occasion::login, random).login,
            Pop3FaultOutcome::Login::in_use);
  EXPECT_EQ(decide_pop3({fault(Fault::Kind::pop3_login_temp)}, Pop3Occasion::login, random).login,
            Pop3FaultOutcome::Login::temp_failure);
}

TEST(SandboxPop3Faults, ProbabilityDelaysAndCutsCombine) {
  double draw = 0.4;
  RandomSource random = [&] { return draw; };
  Fault half = fault(Fault::Kind::pop3_dele_error, 0.5);
  EXPECT_TRUE(decide_pop3({half}, Pop3Occasion::dele, random).dele_error);
  draw = 0.6;
  EXPECT_FALSE(decide_pop3({half}, Pop3Occasion::dele, random).dele_error);
  // 0 never fires and 1 always, whatever the draw.
  draw = 0.0;
  EXPECT_FALSE(
      decide_pop3({fault(Fault::Kind::pop3_dele_error, 0)}, Pop3Occasion::dele, random).dele_error);
  draw = 0.999;
  EXPECT_TRUE(
      decide_pop3({fault(Fault::Kind::pop3_dele_error, 1)}, Pop3Occasion::dele, random).dele_error);
  // The first login refusal wins.
  auto login =
      decide_pop3({fault(Fault::Kind::pop3_login_in_use), fault(Fault::Kind::pop3_login_temp)},
                  Pop3Occasion::login, random);
  EXPECT_EQ(login.login, Pop3FaultOutcome::Login::in_use);
  // Delays add up, to limits::max_fault_delay at most.
  Fault d1 = fault(Fault::Kind::pop3_delay), d2 = d1;
  d1.delay = milliseconds(200);
  d2.delay = milliseconds(300);
  EXPECT_EQ(decide_pop3({d1, d2}, Pop3Occasion::reply, random).delay, milliseconds(500));
  d1.delay = d2.delay = milliseconds(59'000);
  EXPECT_EQ(decide_pop3({d1, d2}, Pop3Occasion::reply, random).delay, milliseconds(60'000));
  // Of two cuts the smaller wins; a cut at 0 is a cut.
  Fault c1 = fault(Fault::Kind::pop3_drop_retr), c2 = c1;
  c1.after_octets = 100;
  c2.after_octets = 0;
  EXPECT_EQ(decide_pop3({c1, c2}, Pop3Occasion::retr, random).retr_cut, 0u);
  EXPECT_EQ(decide_pop3({c1}, Pop3Occasion::retr, random).retr_cut, 100u);
  EXPECT_FALSE(decide_pop3({}, Pop3Occasion::retr, random).retr_cut);
}

TEST(SandboxPop3Faults, HooksReadTheFaultsOfTheUsersInbox) {
  TestHub h;
  h.send("ann@example.com", "Subject: a\r\n\r\nx\r\n");
  Pop3Faults hooks(h.hub, [] { return 0.0; });
  EXPECT_EQ(hooks.on_login("ann@example.com"), popbox::net::Pop3Hooks::Login::go_on);
  Fault delay = fault(Fault::Kind::pop3_delay);
  delay.delay = milliseconds(250);
  Fault cut = fault(Fault::Kind::pop3_drop_retr);
  cut.after_octets = 10;
  ASSERT_FALSE(h.hub.set_faults(
      h.inbox_id("ann@example.com"),
      {fault(Fault::Kind::pop3_login_temp), delay, cut, fault(Fault::Kind::pop3_dele_error)}));
  EXPECT_EQ(hooks.on_login("Ann@Example.com"), popbox::net::Pop3Hooks::Login::temp_failure);
  EXPECT_EQ(hooks.reply_delay("ann@example.com"), milliseconds(250));
  EXPECT_EQ(hooks.retr_cut("ann@example.com"), 10u);
  EXPECT_TRUE(hooks.refuse_dele("ann@example.com"));
  // Other users, and a session with no user yet, see none of them.
  EXPECT_EQ(hooks.on_login("bob@example.com"), popbox::net::Pop3Hooks::Login::go_on);
  EXPECT_EQ(hooks.reply_delay(""), milliseconds(0));
  EXPECT_FALSE(hooks.refuse_dele("bob@example.com"));
}

TEST(SandboxPop3Store, SnapshotOldestFirstWithWireSizesAndExactOctets) {
  TestHub h;
  const std::string a = "Subject: a\r\n\r\nfirst\r\n";
  const std::string b = "Subject: b\r\n\r\nbare lf\n.dot\r\n";
  MessageInfo ma = h.send("ann@example.com", a);
  MessageInfo mb = h.send("ann@example.com", b);
  Pop3Store st(h.hub);
  std::error_code ec;
  auto box = st.open("ann@example.com", ec);
  ASSERT_FALSE(ec);
  ASSERT_EQ(box->messages().size(), 2u);
  EXPECT_EQ(box->messages()[0].uidl, ma.id);
  EXPECT_EQ(box->messages()[1].uidl, mb.id);
  EXPECT_EQ(box->messages()[0].size, a.size());
  EXPECT_EQ(box->messages()[1].size, b.size() + 1);  // the bare LF goes out as CRLF
  EXPECT_EQ(h.read_all(*box, 0), a);
  EXPECT_EQ(h.read_all(*box, 1), b);
  EXPECT_FALSE(box->seen(0));
  // A second session of the address waits for the first.
  auto again = st.open("ann@example.com", ec);
  EXPECT_EQ(ec, store::store_errc::in_use);
  EXPECT_EQ(again, nullptr);
  box.reset();
  EXPECT_NE(st.open("ann@example.com", ec), nullptr);
  EXPECT_FALSE(ec);
}

TEST(SandboxPop3Store, CommitDeletesThroughTheHubAndMarksRetrievedRead) {
  TestHub h;
  MessageInfo ma = h.send("ann@example.com", "Subject: a\r\n\r\n1\r\n");
  MessageInfo mb = h.send("ann@example.com", "Subject: b\r\n\r\n2\r\n");
  MessageInfo mc = h.send("ann@example.com", "Subject: c\r\n\r\n3\r\n");
  const std::string id = h.inbox_id("ann@example.com");
  Pop3Store st(h.hub);
  std::error_code ec;
  auto box = st.open("ann@example.com", ec);
  ASSERT_FALSE(ec);
  // The API deletes c while the session holds it: not an error at QUIT.
  ASSERT_FALSE(h.hub.delete_message(id, mc.id));
  h.events.clear();
  const std::size_t deleted[] = {0, 2};
  const std::size_t retrieved[] = {0, 1};
  EXPECT_FALSE(box->commit(deleted, retrieved));
  EXPECT_FALSE(h.hub.message(id, ma.id));
  auto b = h.hub.message(id, mb.id);
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->read);
  ASSERT_EQ(h.events.size(), 2u);
  EXPECT_EQ(h.events[0].kind, Event::Kind::message_read);
  EXPECT_EQ(h.events[1].kind, Event::Kind::message_deleted);
  EXPECT_EQ(h.events[1].message_id, ma.id);
  box.reset();
  auto next = st.open("ann@example.com", ec);
  ASSERT_EQ(next->messages().size(), 1u);
  EXPECT_TRUE(next->seen(0));
}

TEST(SandboxPop3Store, AnAddressWithoutAnInboxIsAnEmptyMaildropAndMakesNone) {
  TestHub h;
  Pop3Store st(h.hub);
  std::error_code ec;
  auto box = st.open("nobody@example.com", ec);
  ASSERT_FALSE(ec);
  EXPECT_TRUE(box->messages().empty());
  EXPECT_FALSE(box->commit({}, {}));
  EXPECT_FALSE(h.hub.inbox_by_address("nobody@example.com"));
  st.open("", ec);
  EXPECT_EQ(ec, store::store_errc::bad_path);
}

TEST(SandboxPop3Store, AMessageTheApiDeletedIsGoneForRetr) {
  TestHub h;
  MessageInfo m = h.send("ann@example.com", "Subject: a\r\n\r\n1\r\n");
  Pop3Store st(h.hub);
  std::error_code ec;
  auto box = st.open("ann@example.com", ec);
  ASSERT_FALSE(h.hub.delete_message(h.inbox_id("ann@example.com"), m.id));
  EXPECT_EQ(box->open(0, ec), nullptr);
  EXPECT_EQ(ec, store::store_errc::message_gone);
}

TEST(SandboxMemoryStorage, KeepsMessagesAndMetadataWithoutAMaildir) {
  auto storage = make_memory_storage();
  popbox::core::Spool spool;
  spool.append("octets\r\n");
  ASSERT_FALSE(storage->put("i1", "m1", spool));
  std::string out;
  ASSERT_FALSE(storage->get("i1", "m1", out));
  EXPECT_EQ(out, "octets\r\n");
  EXPECT_EQ(storage->list("i1"), std::vector<std::string>{"m1"});
  EXPECT_EQ(storage->get("i1", "m2", out), std::errc::no_such_file_or_directory);
  ASSERT_FALSE(storage->save_meta("i1", "{}"));
  ASSERT_EQ(storage->load_meta().size(), 1u);
  EXPECT_EQ(storage->maildir("i1"), "");
  EXPECT_FALSE(storage->remove("i1", "m1"));
  EXPECT_FALSE(storage->remove("i1", "m1"));  // gone already: fine
  EXPECT_TRUE(storage->list("i1").empty());
  EXPECT_FALSE(storage->remove_inbox("i1"));
  EXPECT_TRUE(storage->load_meta().empty());
}
