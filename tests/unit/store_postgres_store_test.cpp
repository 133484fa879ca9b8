// PgStore against a real throwaway PostgreSQL: locks, RETR bytes, commit,
// single-instance bodies, reconnecting.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "core/limits.hpp"
#include "pg_fixture.hpp"
#include "store/postgres/pg_error.hpp"
#include "store/postgres/pg_store.hpp"
#include "store/postgres/schema.hpp"
#include "store/postgres/wire_form.hpp"

namespace popbox::store::pg {
namespace {

/// A source reading `text` in pieces of at most `piece` bytes.
BodySource source_of(const std::string& text, std::size_t piece = 1000) {
  auto pos = std::make_shared<std::size_t>(0);
  return [&text, pos, piece](std::span<char> buf, std::error_code& ec) {
    ec.clear();
    const std::size_t n = std::min({buf.size(), piece, text.size() - *pos});
    std::memcpy(buf.data(), text.data() + *pos, n);
    *pos += n;
    return n;
  };
}

std::string read_all(MessageReader& r, std::size_t block, std::error_code& ec) {
  std::string out, buf(block, '\0');
  for (;;) {
    const std::size_t n = r.read(buf, ec);
    if (ec || n == 0) return out;
    out.append(buf.data(), n);
  }
}

class PgStoreTest : public test::PgTest {
 protected:
  void SetUp() override {
    test::PgTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    std::error_code ec;
    migrate(*conn_, false, ec);
    ASSERT_FALSE(ec) << conn_->last_error();
    store_ = std::make_unique<PgStore>(test::pg_dsn, 4);
  }

  std::vector<std::string> deliver(const std::vector<Recipient>& to, const std::string& body) {
    std::error_code ec;
    auto uidls = store_->deliver(to, source_of(body), ec);
    EXPECT_FALSE(ec) << ec.message();
    return uidls;
  }

  std::string retr(Mailbox& box, std::size_t i, std::size_t block = 7) {
    std::error_code ec;
    auto reader = box.open(i, ec);
    EXPECT_TRUE(reader) << ec.message();
    if (!reader) return {};
    std::string got = read_all(*reader, block, ec);
    EXPECT_FALSE(ec) << ec.message();
    return got;
  }

  std::int64_t count(const std::string& table) {
    return sql("SELECT count(*) FROM " + table).integer(0, 0);
  }

  std::unique_ptr<PgStore> store_;
};

TEST_F(PgStoreTest, RetrSendsPrefixThenBodyByteExact) {
  const std::string body = "Subject: dots\n\n.\n..\n.hidden\nno newline";
  auto uidls = deliver({{"alice", "Delivered-To: alice\n"}}, body);
  ASSERT_EQ(uidls.size(), 1u);
  std::error_code ec;
  auto box = store_->open("alice", ec);
  ASSERT_TRUE(box) << ec.message();
  ASSERT_EQ(box->messages().size(), 1u);
  const std::string want = "Delivered-To: alice\r\n" + to_wire_form(body);
  EXPECT_EQ(box->messages()[0].uidl, uidls[0]);
  EXPECT_EQ(box->messages()[0].size, want.size());
  for (std::size_t block : {1, 7, 4096}) EXPECT_EQ(retr(*box, 0, block), want);
}

TEST_F(PgStoreTest, TenMebibyteBodyIsStoredInChunksAndStreamedBack) {
  std::string body;
  body.reserve(11u << 20);
  for (std::size_t i = 0; body.size() < (10u << 20); ++i) {
    body += "line " + std::to_string(i * 2654435761u) + (i % 2 ? "\n" : "\r\n");
  }
  deliver({{"big", ""}}, body);
  const std::string want = to_wire_form(body);
  const auto chunks = (want.size() + limits::pg_body_chunk - 1) / limits::pg_body_chunk;
  EXPECT_EQ(count("body_chunks"), static_cast<std::int64_t>(chunks));
  EXPECT_EQ(sql("SELECT max(length(data)) FROM body_chunks").integer(0, 0),
            static_cast<std::int64_t>(limits::pg_body_chunk));
  std::error_code ec;
  auto box = store_->open("big", ec);
  ASSERT_TRUE(box);
  EXPECT_EQ(box->messages()[0].size, want.size());
  const std::string got = retr(*box, 0, limits::message_chunk);
  EXPECT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want);
}

TEST_F(PgStoreTest, SecondOpenIsInUseUntilTheFirstCloses) {
  std::error_code ec;
  auto first = store_->open("alice", ec);
  ASSERT_TRUE(first);
  PgStore other_node(test::pg_dsn, 2);  // another pool: another node
  EXPECT_FALSE(other_node.open("alice", ec));
  EXPECT_EQ(ec, make_error_code(store_errc::in_use));
  EXPECT_FALSE(store_->open("alice", ec));
  EXPECT_EQ(ec, make_error_code(store_errc::in_use));
  auto bob = other_node.open("bob", ec);  // other maildrops are free
  EXPECT_TRUE(bob) << ec.message();
  first.reset();
  EXPECT_TRUE(other_node.open("alice", ec)) << ec.message();
}

TEST_F(PgStoreTest, LockIsReleasedWhenTheHoldingBackendIsKilled) {
  deliver({{"alice", ""}}, "Subject: one\n\nbody\n");
  std::error_code ec;
  auto held = store_->open("alice", ec);
  ASSERT_TRUE(held);
  auto killed =
      sql("SELECT pg_terminate_backend(pid, 10000) FROM pg_locks "
          "WHERE locktype = 'advisory' AND granted");
  ASSERT_EQ(killed.rows(), 1);
  EXPECT_EQ(killed.value(0, 0), "t");
  PgStore other_node(test::pg_dsn, 2);
  auto again = other_node.open("alice", ec);
  ASSERT_TRUE(again) << ec.message();
  EXPECT_EQ(again->messages().size(), 1u);
  // The session whose connection died fails temporarily, deletes nothing.
  const std::size_t first = 0;
  ec = held->commit(std::span(&first, 1), {});
  EXPECT_TRUE(is_temporary(ec)) << ec.message();
  held.reset();  // closing it on a dead connection is fine
  again.reset();
  EXPECT_EQ(count("messages"), 1);
}

TEST_F(PgStoreTest, CommitDeletesAndMarksSeenInOneTransaction) {
  for (int i = 0; i < 3; ++i) deliver({{"alice", ""}}, "Subject: " + std::to_string(i) + "\n\n");
  std::error_code ec;
  auto box = store_->open("alice", ec);
  ASSERT_TRUE(box);
  const auto uidls = box->messages();
  ASSERT_EQ(uidls.size(), 3u);
  // A failure in the middle of the commit (the seen update) undoes the deletes.
  sql("CREATE FUNCTION popbox_test_fail() RETURNS trigger LANGUAGE plpgsql AS "
      "$$ BEGIN RAISE EXCEPTION 'injected'; END $$");
  sql("CREATE TRIGGER fail_seen BEFORE UPDATE ON messages FOR EACH ROW "
      "EXECUTE FUNCTION popbox_test_fail()");
  const std::size_t del[] = {0}, seen[] = {1};
  ec = box->commit(del, seen);
  EXPECT_EQ(ec, make_error_code(pg_errc::query_failed));
  EXPECT_EQ(count("messages"), 3);
  EXPECT_EQ(count("bodies"), 3);
  sql("DROP TRIGGER fail_seen ON messages");
  ec = box->commit(del, seen);
  ASSERT_FALSE(ec) << ec.message();
  box.reset();
  box = store_->open("alice", ec);
  ASSERT_TRUE(box);
  ASSERT_EQ(box->messages().size(), 2u);
  EXPECT_EQ(box->messages()[0].uidl, uidls[1].uidl);  // UIDLs are stable
  EXPECT_EQ(box->messages()[1].uidl, uidls[2].uidl);
  EXPECT_EQ(count("bodies"), 2);
  EXPECT_EQ(sql("SELECT seen FROM messages ORDER BY id").value(0, 0), "t");
  auto usage = sql("SELECT messages, bytes FROM mailboxes WHERE user_name = 'alice'");
  EXPECT_EQ(usage.integer(0, 0), 2);
  EXPECT_EQ(static_cast<std::uint64_t>(usage.integer(0, 1)),
            box->messages()[0].size + box->messages()[1].size);
}

TEST_F(PgStoreTest, OneBodySharedByThreeRecipientsIsFreedWithTheLastDele) {
  const std::string body = "Subject: to all\n\nshared\n";
  auto uidls = deliver({{"carol", "Delivered-To: carol\n"},
                        {"alice", "Delivered-To: alice\n"},
                        {"bob", "Delivered-To: bob\n"}},
                       body);
  ASSERT_EQ(uidls.size(), 3u);
  EXPECT_EQ(count("bodies"), 1);
  EXPECT_EQ(sql("SELECT refs FROM bodies").integer(0, 0), 3);
  EXPECT_EQ(count("messages"), 3);
  int left = 3;
  for (const char* user : {"alice", "bob", "carol"}) {
    std::error_code ec;
    auto box = store_->open(user, ec);
    ASSERT_TRUE(box) << ec.message();
    ASSERT_EQ(box->messages().size(), 1u);
    EXPECT_EQ(retr(*box, 0), "Delivered-To: " + std::string(user) + "\r\n" + to_wire_form(body));
    const std::size_t del[] = {0};
    ASSERT_FALSE(box->commit(del, {}));
    --left;
    EXPECT_EQ(count("bodies"), left > 0 ? 1 : 0) << user;
    if (left > 0) {
      EXPECT_EQ(sql("SELECT refs FROM bodies").integer(0, 0), left);
    }
  }
  EXPECT_EQ(count("body_chunks"), 0);
  EXPECT_EQ(count("messages"), 0);
}

TEST_F(PgStoreTest, FailedDeliveryStoresNothing) {
  std::error_code ec;
  BodySource broken = [](std::span<char>, std::error_code& e) -> std::size_t {
    e = std::make_error_code(std::errc::io_error);
    return 0;
  };
  auto uidls = store_->deliver(std::vector<Recipient>{{"alice", ""}, {"bob", ""}}, broken, ec);
  EXPECT_EQ(ec, std::errc::io_error);
  EXPECT_TRUE(uidls.empty());
  EXPECT_EQ(count("bodies"), 0);
  EXPECT_EQ(count("messages"), 0);
  EXPECT_EQ(sql("SELECT coalesce(sum(messages), 0) FROM mailboxes").integer(0, 0), 0);
}

TEST_F(PgStoreTest, ReconnectsAfterItsIdleConnectionsWereCut) {
  deliver({{"alice", ""}}, "Subject: x\n\n");
  std::error_code ec;
  { auto warm = store_->open("alice", ec); }  // leaves a connection idle in the pool
  sql("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
      "WHERE usename = 'popbox' AND pid <> pg_backend_pid()");
  auto box = store_->open("alice", ec);
  ASSERT_TRUE(box) << ec.message();
  EXPECT_EQ(box->messages().size(), 1u);
}

TEST_F(PgStoreTest, UidlsDifferAcrossRecipientsAndDeliveries) {
  auto a = deliver({{"alice", ""}, {"alice", ""}}, "x\n");
  auto b = deliver({{"alice", ""}}, "y\n");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_NE(a[0], a[1]);
  EXPECT_NE(a[1], b[0]);
  EXPECT_EQ(a[0].size(), 16u);
}

TEST_F(PgStoreTest, ConcurrentDeliveriesAndDelesKeepCountersAndRefsExact) {
  // Deliveries naming the same recipients in different orders must not
  // deadlock; DELEs racing with them must leave counters and refs exact.
  std::vector<std::thread> senders;
  std::atomic<int> failures{0};
  for (int t = 0; t < 3; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        std::vector<Recipient> to = {{"alice", "A\n"}, {"bob", "B\n"}, {"carol", ""}};
        if ((t + i) % 2) std::swap(to[0], to[2]);
        const std::string body = "Subject: " + std::to_string(t * 100 + i) + "\n\nx\n";
        std::error_code ec;
        store_->deliver(to, source_of(body), ec);
        if (ec) ++failures;
      }
    });
  }
  int deleted = 0;
  for (int round = 0; round < 15; ++round) {
    std::error_code ec;
    auto box = store_->open("alice", ec);
    ASSERT_TRUE(box) << ec.message();
    std::vector<std::size_t> all(box->messages().size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    ASSERT_FALSE(box->commit(all, {}));
    deleted += static_cast<int>(all.size());
  }
  for (auto& t : senders) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(count("messages"), 3 * 60 - deleted);
  EXPECT_EQ(count("bodies"), 60);  // bob and carol still hold every body
  // The kept counters equal what a scan finds.
  auto drift =
      sql("SELECT count(*) FROM mailboxes b WHERE b.messages <> (SELECT count(*) FROM messages m "
          "WHERE m.mailbox_id = b.id) OR b.bytes <> (SELECT coalesce(sum(size), 0) FROM messages m "
          "WHERE m.mailbox_id = b.id)");
  EXPECT_EQ(drift.integer(0, 0), 0);
  auto bad_refs =
      sql("SELECT count(*) FROM bodies b WHERE b.refs <> (SELECT count(*) FROM messages m "
          "WHERE m.body_id = b.id)");
  EXPECT_EQ(bad_refs.integer(0, 0), 0);
}

}  // namespace
}  // namespace popbox::store::pg
