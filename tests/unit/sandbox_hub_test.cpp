#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/dot_codec.hpp"
#include "sandbox/fault_plan.hpp"
#include "sandbox/inbox_hub.hpp"
#include "sandbox/smtp_backend.hpp"
#include "temp_dir.hpp"

using namespace popbox::sandbox;
namespace fs = std::filesystem;

namespace {

struct Fixture {
  explicit Fixture(Limits l = {}) : limits(l) { open(); }
  void open() {
    hub.reset();
    hub =
        std::make_unique<InboxHub>(make_maildir_storage(dir.path), limits, [this] { return now; });
    sub = hub->subscribe([this](const Event& e) { events.push_back(e); });
  }
  MessageInfo send(const std::string& to, const std::string& body, const std::string& to2 = "") {
    popbox::core::Spool spool;
    spool.append(body);
    std::vector<std::string> rcpts{to};
    if (!to2.empty()) rcpts.push_back(to2);
    Delivery d = hub->deliver("from@x.test", rcpts, spool);
    EXPECT_FALSE(d.ec);
    EXPECT_FALSE(d.stored.empty());
    return d.stored.empty() ? MessageInfo{} : d.stored.front();
  }
  std::string kinds() const {
    static const char* names[] = {"received", "deleted",       "read",
                                  "created",  "inbox_deleted", "cleared"};
    std::string out;
    for (const auto& e : events) out += std::string(names[static_cast<int>(e.kind)]) + " ";
    return out;
  }
  popbox::test::TempDir dir;
  Limits limits;
  Clock::time_point now = Clock::time_point(std::chrono::seconds(1'800'000'000));
  std::unique_ptr<InboxHub> hub;
  SubscriptionId sub = 0;
  std::vector<Event> events;
};

std::string file_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST(SandboxHub, CatchAllStoresTheExactOctetsInAMaildir) {
  Fixture f;
  const std::string body = "Subject: x\r\n\r\nline\r\nbare lf\n.dot\r\n";
  MessageInfo m = f.send("Ann@Example.COM", body);
  auto inbox = f.hub->inbox_by_address("ann@example.com");
  ASSERT_TRUE(inbox);
  EXPECT_TRUE(inbox->auto_created);
  EXPECT_EQ(inbox->address, "ann@example.com");
  EXPECT_EQ(inbox->messages, 1u);
  EXPECT_EQ(inbox->unread, 1u);
  EXPECT_EQ(inbox->bytes, body.size());
  EXPECT_EQ(m.size, body.size());
  EXPECT_EQ(m.seq, 1u);
  EXPECT_EQ(m.envelope_from, "from@x.test");
  EXPECT_EQ(m.envelope_to, (std::vector<std::string>{"Ann@Example.COM"}));
  std::string raw;
  ASSERT_FALSE(f.hub->raw(inbox->id, m.id, raw));
  EXPECT_EQ(raw, body);
  // The Maildir file holds the same octets (POP3 reads it there).
  fs::path newdir = fs::path(f.hub->maildir(inbox->id)) / "new";
  auto it = fs::directory_iterator(newdir);
  ASSERT_NE(it, fs::directory_iterator());
  EXPECT_EQ(file_text(it->path()), body);
  EXPECT_TRUE(it->path().filename().string().starts_with(m.id + ",S="));
  EXPECT_EQ(f.kinds(), "created received ");
}

// POP3 sends a Maildir file through core::DotEncoder and lists the
// CrlfSizer size: for the CRLF file the sandbox stores, a client gets back
// the octets the SMTP client sent, and LIST says how many.
TEST(SandboxHub, StoredCrlfMessagesComeBackExactThroughThePop3Codec) {
  Fixture f;
  const std::string body = "Subject: x\r\n\r\n.dot\r\n..two\r\n\r\nend\r\n";
  MessageInfo m = f.send("pop@t", body);
  std::string raw;
  ASSERT_FALSE(f.hub->raw(m.inbox_id, m.id, raw));
  popbox::core::CrlfSizer sizer;
  sizer.add(raw);
  EXPECT_EQ(sizer.total(), m.size);
  popbox::core::DotEncoder enc;
  std::string wire;
  enc.encode(raw, wire);
  enc.finish(wire);
  popbox::core::DotDecoder dec;
  std::string back;
  EXPECT_EQ(dec.decode(wire, back), wire.size());
  EXPECT_TRUE(dec.done());
  EXPECT_EQ(back, body);
}

TEST(SandboxHub, OneMessagePerInboxForSeveralRecipients) {
  Fixture f;
  popbox::core::Spool spool;
  spool.append("x\r\n");
  Delivery d = f.hub->deliver("", {"a@t", "b@t", "A@t"}, spool);
  ASSERT_EQ(d.stored.size(), 2u);
  EXPECT_EQ(d.stored[0].envelope_to, (std::vector<std::string>{"a@t", "A@t"}));
  EXPECT_EQ(f.hub->inboxes().size(), 2u);
  EXPECT_EQ(d.stored[1].seq, d.stored[0].seq + 1);
}

TEST(SandboxHub, CreateListDeleteClear) {
  Fixture f;
  InboxSpec spec;
  spec.address = "Test@Site";
  spec.password = "pw";
  spec.ttl = std::chrono::seconds(60);
  spec.max_messages = 3;
  InboxInfo info;
  ASSERT_FALSE(f.hub->create_inbox(spec, info));
  EXPECT_EQ(info.address, "test@site");
  EXPECT_TRUE(info.has_password);
  EXPECT_FALSE(info.auto_created);
  EXPECT_EQ(info.expires, f.now + std::chrono::seconds(60));
  EXPECT_EQ(f.hub->create_inbox(spec, info), std::errc::file_exists);
  spec.address = "bad address";
  EXPECT_EQ(f.hub->create_inbox(spec, info), std::errc::invalid_argument);
  auto id = f.hub->inbox_by_address("test@site")->id;
  EXPECT_EQ(id.size(), 16u);
  f.send("test@site", "1\r\n");
  f.send("test@site", "2\r\n");
  std::size_t total = 0;
  auto page = f.hub->messages(id, 0, 1, total);
  EXPECT_EQ(total, 2u);
  ASSERT_EQ(page.size(), 1u);
  std::string raw;
  f.hub->raw(id, page[0].id, raw);
  EXPECT_EQ(raw, "2\r\n");  // newest first
  ASSERT_FALSE(f.hub->mark_read(id, page[0].id, true));
  EXPECT_EQ(f.hub->inbox(id)->unread, 1u);
  ASSERT_FALSE(f.hub->clear_inbox(id));
  EXPECT_EQ(f.hub->inbox(id)->messages, 0u);
  ASSERT_FALSE(f.hub->delete_inbox(id));
  EXPECT_FALSE(f.hub->inbox(id));
  EXPECT_EQ(f.hub->delete_inbox(id), std::errc::no_such_file_or_directory);
  EXPECT_FALSE(fs::exists(fs::path(f.dir.path) / "inboxes" / id));
  EXPECT_EQ(f.kinds(), "created received received read cleared inbox_deleted ");
}

TEST(SandboxHub, PerInboxCapDropsTheOldest) {
  Limits l;
  l.max_messages = 2;
  Fixture f(l);
  MessageInfo first = f.send("a@t", "1\r\n");
  f.send("a@t", "2\r\n");
  f.send("a@t", "3\r\n");
  auto inbox = *f.hub->inbox_by_address("a@t");
  EXPECT_EQ(inbox.messages, 2u);
  EXPECT_FALSE(f.hub->message(inbox.id, first.id));
  EXPECT_EQ(f.kinds(), "created received received received deleted ");
  EXPECT_EQ(f.events.back().message_id, first.id);
  std::string raw;
  EXPECT_EQ(f.hub->raw(inbox.id, first.id, raw), std::errc::no_such_file_or_directory);
}

TEST(SandboxHub, TotalCapDropsTheOldestAcrossInboxes) {
  Limits l;
  l.max_total_bytes = 10;
  Fixture f(l);
  MessageInfo a = f.send("a@t", "12345\r\n");  // 7
  MessageInfo b = f.send("b@t", "123\r\n");    // 5: 12 > 10, a goes
  EXPECT_FALSE(f.hub->message(a.inbox_id, a.id));
  EXPECT_TRUE(f.hub->message(b.inbox_id, b.id));
  EXPECT_EQ(f.hub->inbox(a.inbox_id)->messages, 0u);
  MessageInfo big = f.send("c@t", std::string(20, 'x'));  // alone past the cap: kept
  EXPECT_TRUE(f.hub->message(big.inbox_id, big.id));
  EXPECT_FALSE(f.hub->message(b.inbox_id, b.id));
}

TEST(SandboxHub, ExpiredInboxesAreSwept) {
  Fixture f;
  InboxSpec spec;
  spec.address = "short@t";
  spec.ttl = std::chrono::seconds(30);
  InboxInfo info;
  ASSERT_FALSE(f.hub->create_inbox(spec, info));
  f.send("short@t", "x\r\n");
  f.send("forever@t", "x\r\n");
  f.now += std::chrono::seconds(29);
  EXPECT_EQ(f.hub->sweep(), 0u);
  f.now += std::chrono::seconds(1);
  EXPECT_EQ(f.hub->sweep(), 1u);
  EXPECT_FALSE(f.hub->inbox(info.id));
  EXPECT_TRUE(f.hub->inbox_by_address("forever@t"));
  EXPECT_EQ(f.events.back().kind, Event::Kind::inbox_deleted);
  EXPECT_EQ(f.events.back().inbox_id, info.id);
}

TEST(SandboxHub, RestartKeepsInboxesMessagesAndState) {
  Fixture f;
  InboxSpec spec;
  spec.address = "kept@t";
  spec.password = "s3cret";
  InboxInfo info;
  ASSERT_FALSE(f.hub->create_inbox(spec, info));
  MessageInfo m1 = f.send("kept@t", "one\r\n");
  MessageInfo m2 = f.send("auto@t", "two\r\n");
  f.hub->mark_read(m1.inbox_id, m1.id, true);
  f.open();
  auto kept = f.hub->inbox(info.id);
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->address, "kept@t");
  EXPECT_TRUE(kept->has_password);
  EXPECT_EQ(kept->messages, 1u);
  EXPECT_EQ(kept->unread, 0u);
  EXPECT_TRUE(f.hub->inbox_by_address("auto@t")->auto_created);
  auto again = f.hub->message(m2.inbox_id, m2.id);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->seq, m2.seq);
  EXPECT_EQ(again->envelope_from, "from@x.test");
  EXPECT_TRUE(f.hub->password_matches("KEPT@t", "s3cret", true));
  EXPECT_FALSE(f.hub->password_matches("kept@t", "s3creT", true));
  EXPECT_FALSE(f.hub->password_matches("auto@t", "x", true));
  EXPECT_TRUE(f.hub->password_matches("auto@t", "x", false));
  // New messages go on numbering after the old ones.
  EXPECT_EQ(f.send("kept@t", "three\r\n").seq, m2.seq + 1);
}

TEST(SandboxHub, RestartAdoptsFilesWithoutMetadataAndDropsVanishedOnes) {
  Fixture f;
  MessageInfo m = f.send("a@t", "one\r\n");
  std::string maildir = f.hub->maildir(m.inbox_id);
  f.hub.reset();
  // POP3 deleted the message; a crash left a file the metadata lacks.
  for (const auto& e : fs::directory_iterator(fs::path(maildir) / "new")) fs::remove(e.path());
  std::ofstream(fs::path(maildir) / "cur" / "1.M2P3Q4.other:2,S", std::ios::binary) << "orphan\r\n";
  f.open();
  std::size_t total = 0;
  auto list = f.hub->messages(m.inbox_id, 0, 10, total);
  ASSERT_EQ(total, 1u);
  EXPECT_EQ(list[0].id, "1.M2P3Q4.other");
  EXPECT_EQ(list[0].size, 8u);
  std::string raw;
  f.hub->raw(m.inbox_id, list[0].id, raw);
  EXPECT_EQ(raw, "orphan\r\n");
}

TEST(SandboxHub, DamagedMetadataIsSkipped) {
  Fixture f;
  MessageInfo m = f.send("a@t", "one\r\n");
  f.hub.reset();
  std::ofstream(fs::path(f.dir.path) / "inboxes" / m.inbox_id / "inbox.json") << "{not json";
  f.open();
  EXPECT_TRUE(f.hub->inboxes().empty());
  f.send("a@t", "again\r\n");  // the address works again
}

TEST(SandboxHub, UnsubscribedCallbacksAreNotCalled) {
  Fixture f;
  int calls = 0;
  SubscriptionId id = f.hub->subscribe([&](const Event&) { ++calls; });
  f.send("a@t", "x\r\n");
  EXPECT_EQ(calls, 2);
  f.hub->unsubscribe(id);
  f.send("a@t", "y\r\n");
  EXPECT_EQ(calls, 2);
}

TEST(SandboxFaults, DecisionsFollowTheRandomSource) {
  std::vector<Fault> faults(3);
  faults[0].kind = Fault::Kind::smtp_rcpt;
  faults[0].probability = 0.5;
  faults[0].smtp_code = 550;
  faults[1].kind = Fault::Kind::smtp_delay;
  faults[1].delay = std::chrono::milliseconds(250);
  faults[2].kind = Fault::Kind::smtp_data;
  faults[2].smtp_code = 452;
  double draw = 0.4;
  RandomSource random = [&] { return draw; };
  auto r = decide_smtp(faults, SmtpStage::rcpt, random);
  EXPECT_EQ(r.refusal, "550 5.3.0 Fault injected by popbox sandbox");
  EXPECT_EQ(r.delay, std::chrono::milliseconds(250));
  draw = 0.6;
  EXPECT_EQ(decide_smtp(faults, SmtpStage::rcpt, random).refusal, "");
  EXPECT_EQ(decide_smtp(faults, SmtpStage::data, random).refusal,
            "452 4.3.0 Fault injected by popbox sandbox");
  EXPECT_EQ(decide_smtp(faults, SmtpStage::mail, random).refusal, "");
  Fault bad;
  bad.probability = 1.5;
  EXPECT_NE(validate_fault(bad), "");
  bad.probability = 1;
  bad.smtp_code = 250;
  EXPECT_NE(validate_fault(bad), "");
}

TEST(SandboxFaults, BackendAppliesTheInboxFaults) {
  Fixture f;
  f.send("a@t", "x\r\n");
  Fault rcpt;
  rcpt.kind = Fault::Kind::smtp_rcpt;
  rcpt.smtp_code = 451;
  Fault mail;
  mail.kind = Fault::Kind::smtp_mail;
  mail.smtp_code = 554;
  auto id = f.hub->inbox_by_address("a@t")->id;
  ASSERT_FALSE(f.hub->set_faults(id, {rcpt, mail}));
  EXPECT_EQ(f.hub->faults(id).size(), 2u);
  HubSmtpBackend backend(*f.hub, false, [] { return 0.0; });
  EXPECT_EQ(backend.on_rcpt("A@t", "").refusal, "451 4.3.0 Fault injected by popbox sandbox");
  EXPECT_EQ(backend.on_rcpt("other@t", "").refusal, "");
  EXPECT_EQ(backend.on_mail("x@y", "").refusal, "");  // not AUTHed as the inbox
  EXPECT_EQ(backend.on_mail("x@y", "a@t").refusal, "554 5.3.0 Fault injected by popbox sandbox");
  EXPECT_EQ(backend.on_rcpt("a b", "").refusal, "553 5.1.3 This address cannot name an inbox");
  ASSERT_FALSE(f.hub->set_faults(id, {}));
  EXPECT_EQ(backend.on_rcpt("a@t", "").refusal, "");
}
