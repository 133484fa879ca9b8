// The engine's order of things, with a recording fake target: intents are
// durable before a message is written, a message is durable before it is
// recorded, and recorded before its DELE is sent; interrupted runs recover.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "client/engine.hpp"
#include "temp_dir.hpp"

using namespace popbox::client;
namespace fs = std::filesystem;

namespace {

using popbox::test::TempDir;

// Logs every call; checks the state database at each durability point.
class FakeTarget final : public Deliverer {
 public:
  FakeTarget(StateDb& db, std::size_t batch) : db_(db), batch_(batch) {}

  class Message final : public Delivery {
   public:
    Message(FakeTarget& t, std::string uidl, std::string token)
        : t_(t), uidl_(std::move(uidl)), token_(std::move(token)) {}
    std::string token() const override { return token_; }
    Failure write(std::string_view data) override {
      body_.append(data);
      return {};
    }
    Failure commit() override {
      t_.log.push_back("commit " + uidl_ + " [" + body_ + "]");
      t_.committed.push_back(uidl_);
      return t_.fail_commit ? fail(fetch_errc::io, "disk full") : Failure{};
    }

   private:
    FakeTarget& t_;
    std::string uidl_, token_, body_;
  };

  std::vector<Recovered> recover(const std::vector<Intent>& intents) override {
    std::vector<Recovered> out;
    for (const auto& i : intents) {
      log.push_back("recover " + i.uidl + " " + i.token);
      out.push_back(i.token == "on-disk" ? Recovered::delivered : Recovered::not_delivered);
    }
    return out;
  }
  std::size_t batch() const override { return batch_; }
  std::string reserve() override {
    return batch_ > 1 ? "T" + std::to_string(++tokens_) : std::string();
  }
  std::unique_ptr<Delivery> begin(const std::string& uidl, const std::string& token, const Intent*,
                                  std::int64_t, Failure&) override {
    // The intent for this message is durable before anything is written.
    std::vector<Intent> in;
    EXPECT_FALSE(db_.intents(in));
    bool found = false;
    for (const auto& i : in) found |= i.uidl == uidl && i.token == token && !token.empty();
    if (batch_ > 1) {
      EXPECT_TRUE(found) << uidl;
    }
    log.push_back("begin " + uidl + " " + token);
    return std::make_unique<Message>(*this, uidl, token.empty() ? "M" + uidl : token);
  }
  Failure sync() override {
    // Nothing of this batch is recorded before it is durable.
    StateMap m;
    EXPECT_FALSE(db_.load(m));
    for (const auto& u : committed) EXPECT_FALSE(m.contains(u)) << u;
    log.push_back("sync");
    committed.clear();
    if (fail_sync) return fail(fetch_errc::io, "fsync failed");
    return {};
  }

  std::vector<std::string> log, committed;
  bool fail_commit = false;
  bool fail_sync = false;

 private:
  StateDb& db_;
  std::size_t batch_;
  int tokens_ = 0;
};

struct Rig {
  // A fresh state in a temporary directory, or the one at `db_path`.
  explicit Rig(std::size_t batch, bool keep = false, EngineOptions o = {false, false, 1000},
               const std::string& db_path = "") {
    std::string error;
    db = StateDb::open(db_path.empty() ? dir.path + "/s.sqlite" : db_path, error);
    account.name = "t";
    account.keep = keep;
    account.deliver.spec = "fake:";
    target = std::make_unique<FakeTarget>(*db, batch);
    engine = std::make_unique<Engine>(account, *db, *target, console, console.counters(), o);
  }

  // Runs a session against scripted server replies; returns the commands
  // sent, each prefixed with the fake's log length at that time.
  std::string run(std::string_view server, Failure* failure = nullptr) {
    SessionOptions so;
    so.tls = TlsMode::none;
    so.user = "u";
    so.secret = "p";
    Session s(so);
    std::string sent;
    auto pump = [&] {
      sent += s.output();
      s.output_done();
    };
    pump();
    Session::Event ev;
    do {
      server.remove_prefix(s.receive(server, ev));
      if (ev.kind == Session::EventKind::failed) break;
      if (ev.kind != Session::EventKind::none) {
        Failure f = engine->on_event(s, ev);
        if (f) {
          if (failure) *failure = f;
          break;
        }
      }
      pump();
    } while (!server.empty() || ev.kind != Session::EventKind::none);
    Failure f = engine->finish();
    if (failure && !*failure) *failure = f;
    return sent;
  }

  StateMap state() {
    StateMap m;
    db->load(m);
    return m;
  }

  TempDir dir;
  std::unique_ptr<StateDb> db;
  AccountConfig account;
  Console console{false, true};
  std::unique_ptr<FakeTarget> target;
  std::unique_ptr<Engine> engine;
};

const std::string login = "+OK\r\n+OK\r\nUSER\r\nPIPELINING\r\n.\r\n+OK\r\n+OK\r\n";
const std::string three =
    "+OK\r\n1 a\r\n2 b\r\n3 c\r\n.\r\n+OK\r\n1 3\r\n2 3\r\n3 3\r\n.\r\n"
    "+OK\r\nA\r\n.\r\n+OK\r\nB\r\n.\r\n+OK\r\nC\r\n.\r\n";

}  // namespace

TEST(Engine, BatchedDeliveryRecordsAfterSyncAndDeletesAfterRecording) {
  Rig rig(2);
  ASSERT_FALSE(rig.engine->prepare());
  std::string sent = rig.run(login + three + "+OK\r\n+OK\r\n+OK\r\n+OK\r\n");
  EXPECT_EQ(rig.target->log, (std::vector<std::string>{"begin a T1", "commit a [A\r\n]",
                                                       "begin b T2", "commit b [B\r\n]", "sync",
                                                       "begin c T3", "commit c [C\r\n]", "sync"}));
  EXPECT_EQ(sent,
            "CAPA\r\nUSER u\r\nPASS p\r\nUIDL\r\nLIST\r\nRETR 1\r\nRETR 2\r\nRETR 3\r\n"
            "DELE 1\r\nDELE 2\r\nDELE 3\r\nQUIT\r\n");
  EXPECT_TRUE(rig.state().empty());  // deleted: QUIT confirmed, rows gone
  std::vector<Intent> in;
  rig.db->intents(in);
  EXPECT_TRUE(in.empty());
  EXPECT_EQ(rig.engine->stats().fetched, 3u);
  EXPECT_EQ(rig.engine->stats().deleted, 3u);
}

TEST(Engine, KeepModeRecordsWithoutDeleting) {
  Rig rig(1, /*keep=*/true);
  ASSERT_FALSE(rig.engine->prepare());
  std::string sent = rig.run(login + three + "+OK\r\n");
  EXPECT_EQ(sent.find("DELE"), std::string::npos);
  StateMap m = rig.state();
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m["a"].downloaded_at, 1000);
  EXPECT_FALSE(m["a"].pending_delete);
}

TEST(Engine, LostConnectionStillRecordsWhatIsDurableAndKeepsDeletesPending) {
  Rig rig(32);
  ASSERT_FALSE(rig.engine->prepare());
  // Two bodies arrive, then the connection ends (no more bytes).
  std::string sent = rig.run(login + three.substr(0, three.find("+OK\r\nC")));
  EXPECT_EQ(sent.find("DELE"), std::string::npos);  // batch not flushed while connected
  StateMap m = rig.state();
  ASSERT_EQ(m.size(), 2u);  // finish() recorded them
  EXPECT_TRUE(m["a"].pending_delete);
  EXPECT_TRUE(m["b"].pending_delete);
  // The next run deletes them first and fetches only c.
  Rig next(32, false, {false, false, 2000}, rig.dir.path + "/s.sqlite");
  ASSERT_FALSE(next.engine->prepare());
  std::string again = next.run(login +
                               "+OK\r\n1 a\r\n2 b\r\n3 c\r\n.\r\n+OK\r\n1 3\r\n2 3\r\n3 3\r\n.\r\n"
                               "+OK\r\n+OK\r\n+OK\r\nC\r\n.\r\n+OK\r\n+OK\r\n");
  EXPECT_EQ(again,
            "CAPA\r\nUSER u\r\nPASS p\r\nUIDL\r\nLIST\r\nDELE 1\r\nDELE 2\r\nRETR 3\r\n"
            "DELE 3\r\nQUIT\r\n");
  EXPECT_TRUE(next.state().empty());
}

TEST(Engine, RecoveryRecordsWhatReachedTheTarget) {
  Rig rig(1);
  ASSERT_FALSE(rig.db->set_intent({"a", "fake:", "on-disk", 500}));
  ASSERT_FALSE(rig.db->set_intent({"b", "fake:", "lost", 500}));
  ASSERT_FALSE(rig.db->set_intent({"c", "other:", "x", 500}));
  ASSERT_FALSE(rig.engine->prepare());
  EXPECT_EQ(rig.engine->stats().recovered, 1u);
  StateMap m = rig.state();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m["a"].downloaded_at, 500);
  std::vector<Intent> in;
  rig.db->intents(in);
  EXPECT_TRUE(in.empty());
  // a is deleted (delete mode) instead of downloaded again.
  std::string sent = rig.run(login + three.substr(0, three.find("+OK\r\nA")) +
                             "+OK\r\n+OK\r\nB\r\n.\r\n+OK\r\nC\r\n.\r\n+OK\r\n+OK\r\n+OK\r\n");
  EXPECT_EQ(sent.substr(sent.find("LIST\r\n") + 6),
            "DELE 1\r\nRETR 2\r\nRETR 3\r\nDELE 2\r\nDELE 3\r\nQUIT\r\n");
}

TEST(Engine, DeliveryFailureStopsBeforeRecordingOrDeleting) {
  Rig rig(1);
  rig.target->fail_commit = true;
  ASSERT_FALSE(rig.engine->prepare());
  Failure f;
  std::string sent = rig.run(login + three, &f);
  EXPECT_EQ(f.code, make_error_code(fetch_errc::io));
  EXPECT_EQ(sent.find("DELE"), std::string::npos);
  EXPECT_TRUE(rig.state().empty());
}

TEST(Engine, DryRunChangesNothing) {
  Rig rig(2, false, {true, false, 1000});
  ASSERT_FALSE(rig.db->set_intent({"a", "fake:", "on-disk", 500}));
  ASSERT_FALSE(rig.engine->prepare());
  std::string sent = rig.run(login + three.substr(0, three.find("+OK\r\nA")) + "+OK\r\n");
  EXPECT_EQ(sent.substr(sent.find("LIST\r\n") + 6), "QUIT\r\n");
  EXPECT_TRUE(rig.state().empty());
  EXPECT_TRUE(rig.target->log.empty());
}

TEST(Engine, FailedSyncRecordsNothingOfTheBatch) {
  Rig rig(2);
  rig.target->fail_sync = true;
  ASSERT_FALSE(rig.engine->prepare());
  Failure f;
  std::string sent = rig.run(login + three, &f);
  EXPECT_EQ(f.code, make_error_code(fetch_errc::io));
  EXPECT_EQ(sent.find("DELE"), std::string::npos);
  EXPECT_TRUE(rig.state().empty());  // not even by finish()
  std::vector<Intent> in;
  rig.db->intents(in);
  EXPECT_EQ(in.size(), 2u);  // the next run checks the target for a and b
}

TEST(Engine, AMessageGrownPastMaxSizeIsAbandonedAndTheRunGoesOn) {
  for (std::size_t batch : {std::size_t{1}, std::size_t{32}}) {
    Rig rig(batch);
    rig.account.max_size = 8;
    ASSERT_FALSE(rig.engine->prepare());
    // LIST says 3 bytes each; b sends 11.
    std::string sent = rig.run(login +
                               "+OK\r\n1 a\r\n2 b\r\n3 c\r\n.\r\n+OK\r\n1 3\r\n2 3\r\n3 3\r\n.\r\n"
                               "+OK\r\nA\r\n.\r\n+OK\r\nBBBB\r\nBBBBB\r\n.\r\n+OK\r\nC\r\n.\r\n"
                               "+OK\r\n+OK\r\n+OK\r\n");
    // b began but was never committed; a and c are recorded and deleted.
    std::string log;
    for (const auto& l : rig.target->log) log += l + ";";
    EXPECT_EQ(log.find("commit b"), std::string::npos) << log;
    EXPECT_NE(log.find("commit a [A\r\n]"), std::string::npos) << log;
    EXPECT_NE(log.find("commit c [C\r\n]"), std::string::npos) << log;
    EXPECT_EQ(sent.find("DELE 2"), std::string::npos) << sent;
    EXPECT_NE(sent.find("DELE 1"), std::string::npos) << sent;
    EXPECT_NE(sent.find("DELE 3"), std::string::npos) << sent;
    EXPECT_TRUE(sent.ends_with("QUIT\r\n")) << sent;
    EXPECT_FALSE(rig.state().contains("b"));
    std::vector<Intent> in;
    rig.db->intents(in);
    EXPECT_TRUE(in.empty());  // no intent is left to "recover" b
    EXPECT_EQ(rig.engine->stats().fetched, 2u);
    EXPECT_EQ(rig.engine->stats().too_large, 1u);
    EXPECT_EQ(rig.engine->stats().grew, 1u);
  }
}

TEST(Engine, AnAbandonedMessageThatNeverEndsDropsTheConnection) {
  EngineOptions o{false, false, 1000};
  o.max_discard = 16;
  Rig rig(1, false, o);
  rig.account.max_size = 4;
  ASSERT_FALSE(rig.engine->prepare());
  Failure f;
  std::string sent = rig.run(login +
                                 "+OK\r\n1 a\r\n2 b\r\n.\r\n+OK\r\n1 3\r\n2 3\r\n.\r\n"
                                 "+OK\r\nA\r\n.\r\n+OK\r\n" +
                                 std::string(40, 'x'),
                             &f);
  EXPECT_EQ(f.code, make_error_code(fetch_errc::protocol));
  EXPECT_NE(f.message.find("message 2 (UIDL b) went on past 16 bytes over max_size"),
            std::string::npos)
      << f.message;
  EXPECT_EQ(sent.find("QUIT"), std::string::npos);
  EXPECT_EQ(sent.find("DELE 2"), std::string::npos);
  StateMap m = rig.state();
  EXPECT_TRUE(m.contains("a"));  // what was delivered is recorded
  EXPECT_FALSE(m.contains("b"));
}

TEST(Engine, MoreBytesThanARunAllowsIsAClearErrorAndRecordsOnlyWhatWasDelivered) {
  EngineOptions o{false, false, 1000};
  o.max_bytes = 6;
  Rig rig(1, false, o);
  ASSERT_FALSE(rig.engine->prepare());
  Failure f;
  // Each is listed as 3 bytes (the plan takes a and b); b sends 5.
  std::string sent = rig.run(login +
                                 "+OK\r\n1 a\r\n2 b\r\n.\r\n+OK\r\n1 3\r\n2 3\r\n.\r\n"
                                 "+OK\r\nA\r\n.\r\n+OK\r\nBBB\r\n.\r\n+OK\r\n",
                             &f);
  EXPECT_EQ(f.code, make_error_code(fetch_errc::protocol));
  EXPECT_NE(f.message.find("more than 6 bytes in one run"), std::string::npos) << f.message;
  StateMap m = rig.state();
  EXPECT_TRUE(m.contains("a"));
  EXPECT_FALSE(m.contains("b"));
  std::vector<Intent> in;
  rig.db->intents(in);
  EXPECT_TRUE(in.empty());
}

TEST(Engine, MaxMessagesPerRunLeavesTheRestForTheNextRun) {
  Rig rig(1, /*keep=*/true);
  rig.account.max_messages_per_run = 2;
  ASSERT_FALSE(rig.engine->prepare());
  std::string sent = rig.run(login + three.substr(0, three.find("+OK\r\nC")) + "+OK\r\n");
  EXPECT_EQ(sent.substr(sent.find("LIST\r\n") + 6), "RETR 1\r\nRETR 2\r\nQUIT\r\n");
  EXPECT_EQ(rig.state().size(), 2u);
  EXPECT_EQ(rig.engine->stats().deferred, 1u);
}

namespace {

// A target that names its own intents (as mbox does): at sync() it hands
// the batch's intents to the sink, then "writes" the batch.
class NamingTarget final : public Deliverer {
 public:
  explicit NamingTarget(StateDb& db) : db_(db) {}
  class Message final : public Delivery {
   public:
    Message(NamingTarget& t, std::string uidl) : t_(t), uidl_(std::move(uidl)) {}
    std::string token() const override { return {}; }
    Failure write(std::string_view) override { return {}; }
    Failure commit() override {
      t_.batch_.push_back(uidl_);
      return {};
    }

   private:
    NamingTarget& t_;
    std::string uidl_;
  };
  std::vector<Recovered> recover(const std::vector<Intent>& in) override {
    return std::vector<Recovered>(in.size(), Recovered::resume);
  }
  std::size_t batch() const override { return 2; }
  bool names_intents() const override { return true; }
  void set_intent_sink(IntentSink sink) override { sink_ = std::move(sink); }
  std::unique_ptr<Delivery> begin(const std::string& uidl, const std::string&, const Intent*,
                                  std::int64_t, Failure&) override {
    return std::make_unique<Message>(*this, uidl);
  }
  Failure sync() override {
    std::string line = "sync " + recorded() + " ->";
    if (!batch_.empty()) {
      std::vector<Intent> in;
      for (const auto& u : batch_) in.push_back({u, "", "@" + u, 0});
      if (auto f = sink_(in)) return f;
      std::vector<Intent> stored;
      db_.intents(stored);
      for (const auto& u : batch_) {
        bool named = std::any_of(stored.begin(), stored.end(), [&](const Intent& i) {
          return i.uidl == u && i.token == "@" + u && i.target == "fake:";
        });
        EXPECT_TRUE(named) << u;
      }
      batch_.clear();
    }
    log.push_back(line + " " + recorded());
    return {};
  }
  std::string recorded() {
    StateMap m;
    db_.load(m);
    std::vector<std::string> keys;
    for (const auto& [k, v] : m) keys.push_back(k);
    std::sort(keys.begin(), keys.end());
    std::string out = "[";
    for (const auto& k : keys) out += (out.size() > 1 ? " " : "") + k;
    return out + "]";
  }
  std::vector<std::string> log;

 private:
  StateDb& db_;
  IntentSink sink_;
  std::vector<std::string> batch_;
};

}  // namespace

TEST(Engine, ATargetNamingItsIntentsGetsOneCommitPerBatchWithTheLastBatchsRecords) {
  TempDir dir;
  std::string error;
  auto db = StateDb::open(dir.path + "/s.sqlite", error);
  AccountConfig account;
  account.name = "t";
  account.keep = false;
  account.deliver.spec = "fake:";
  NamingTarget target(*db);
  Console console{false, true};
  Engine engine(account, *db, target, console, console.counters(), {false, false, 1000});
  ASSERT_FALSE(engine.prepare());
  SessionOptions so;
  so.tls = TlsMode::none;
  so.user = "u";
  so.secret = "p";
  Session s(so);
  std::string sent;
  std::string server = login +
                       "+OK\r\n1 a\r\n2 b\r\n3 c\r\n4 d\r\n5 e\r\n.\r\n"
                       "+OK\r\n1 3\r\n2 3\r\n3 3\r\n4 3\r\n5 3\r\n.\r\n"
                       "+OK\r\nA\r\n.\r\n+OK\r\nB\r\n.\r\n+OK\r\nC\r\n.\r\n+OK\r\nD\r\n.\r\n"
                       "+OK\r\nE\r\n.\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n";
  std::string_view in = server;
  Session::Event ev;
  do {
    in.remove_prefix(s.receive(in, ev));
    if (ev.kind != Session::EventKind::none) {
      ASSERT_FALSE(engine.on_event(s, ev));
    }
    sent += s.output();
    s.output_done();
  } while (!in.empty() || ev.kind != Session::EventKind::none);
  ASSERT_FALSE(engine.finish());
  // Batch 1 is recorded with batch 2's intents, batch 2 with batch 3's; the
  // last batch is recorded at the end of the run.
  EXPECT_EQ(target.log, (std::vector<std::string>{"sync [] -> []", "sync [] -> [a b]",
                                                  "sync [a b] -> [a b c d]"}));
  // Each DELE after its record.
  EXPECT_EQ(sent.substr(sent.find("LIST\r\n") + 6),
            "RETR 1\r\nRETR 2\r\nRETR 3\r\nRETR 4\r\nRETR 5\r\nDELE 1\r\nDELE 2\r\nDELE 3\r\n"
            "DELE 4\r\nDELE 5\r\nQUIT\r\n");
  EXPECT_EQ(engine.stats().fetched, 5u);
  EXPECT_EQ(engine.stats().deleted, 5u);
  std::vector<Intent> left;
  db->intents(left);
  EXPECT_TRUE(left.empty());
}
