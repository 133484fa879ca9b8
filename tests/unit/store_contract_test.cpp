// The Store contract, run unchanged against every registered backend (see
// store_contract.hpp): snapshot, lock, RETR bytes, DELE only at commit,
// seen flags, UIDL stability, delivery atomicity, usage, crashes.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "core/dot_codec.hpp"
#include "store/fault_point.hpp"
#include "store_contract.hpp"

namespace popbox::store::test {
namespace {

// What POP3 sends for stored bytes, before dot-stuffing: the session's own
// encoder, then the decoder that removes the stuffing and terminator.
std::string wire_of(const std::string& stored) {
  core::DotEncoder enc;
  std::string stuffed;
  enc.encode(stored, stuffed);
  enc.finish(stuffed);
  core::DotDecoder dec;
  std::string out;
  dec.decode(stuffed, out);
  return out;
}

// One recipient as the server user.
DeliveryTarget to(std::string user, std::string prefix) {
  DeliveryTarget t;
  t.mailbox.user = std::move(user);
  t.prefix = std::move(prefix);
  return t;
}

class StoreContract : public ::testing::TestWithParam<ContractBackend> {
 protected:
  void SetUp() override {
    place_ = GetParam().make();
    store_ = place_->store();
  }

  // Delivers `body` (wire form) to each user with its prefix; the results.
  std::vector<std::error_code> deliver(std::vector<DeliveryTarget> targets, std::string_view body,
                                       std::size_t piece = 0) {
    auto d = store_->begin_delivery(targets);
    if (piece == 0) {
      EXPECT_FALSE(d->write(body));
    } else {
      for (std::size_t at = 0; at < body.size(); at += piece) {
        EXPECT_FALSE(d->write(body.substr(at, piece)));
      }
    }
    return d->commit();
  }
  void deliver_to(const std::string& user, std::string_view body, std::string prefix = "") {
    auto r = deliver({to(user, std::move(prefix))}, body);
    ASSERT_EQ(r.size(), 1u);
    ASSERT_FALSE(r[0]) << r[0].message();
  }
  std::unique_ptr<Mailbox> open(const std::string& user, std::shared_ptr<Store> s = nullptr) {
    std::error_code ec;
    auto box = (s ? s : store_)->open(user, ec);
    EXPECT_FALSE(ec) << ec.message();
    return box;
  }
  static std::string retr(Mailbox& box, std::size_t i) {
    std::error_code ec;
    auto r = box.open(i, ec);
    EXPECT_FALSE(ec) << ec.message();
    if (!r) return {};
    std::string stored;
    char buf[7];  // small blocks: the reader must keep its place
    for (;;) {
      std::size_t n = r->read(buf, ec);
      EXPECT_FALSE(ec);
      if (n == 0 || ec) break;
      stored.append(buf, n);
    }
    return wire_of(stored);
  }
  Usage usage_of(const std::string& user, std::shared_ptr<Store> s = nullptr) {
    Usage u;
    auto ec = (s ? s : store_)->usage(OpenRequest{user, std::nullopt}, u);
    EXPECT_FALSE(ec) << ec.message();
    return u;
  }
  static std::vector<std::string> uidls(const Mailbox& box) {
    std::vector<std::string> out;
    for (const auto& m : box.messages()) out.push_back(m.uidl);
    return out;
  }

  std::unique_ptr<ContractPlace> place_;
  std::shared_ptr<Store> store_;
};

TEST_P(StoreContract, SnapshotIsTakenAtOpen) {
  deliver_to("alice", "Subject: 1\r\n\r\none\r\n");
  auto box = open("alice");
  ASSERT_TRUE(box);
  deliver_to("alice", "Subject: 2\r\n\r\ntwo\r\n");
  EXPECT_EQ(box->messages().size(), 1u);
  box.reset();
  EXPECT_EQ(open("alice")->messages().size(), 2u);
}

TEST_P(StoreContract, LockIsExclusiveUntilClose) {
  auto box = open("alice");
  ASSERT_TRUE(box);
  std::error_code ec;
  EXPECT_FALSE(store_->open("alice", ec));
  EXPECT_EQ(ec, failure::in_use);
  EXPECT_TRUE(open("bob"));  // other users are not locked
  box.reset();
  EXPECT_TRUE(open("alice"));
}

TEST_P(StoreContract, RetrGivesTheExactBytesAndSize) {
  const std::string body = "Subject: t\r\n\r\nline\r\n.dot line\r\n\r\nno final line end";
  const std::string prefix = "Delivered-To: alice@example.org\r\n";
  deliver_to("alice", body, prefix);
  deliver_to("alice", "Subject: split\r\n\r\na\r\nb\r\n");
  auto box = open("alice");
  ASSERT_EQ(box->messages().size(), 2u);
  const std::string want = prefix + body + "\r\n";
  EXPECT_EQ(retr(*box, 0), want);
  EXPECT_EQ(box->messages()[0].size, want.size());
  EXPECT_EQ(retr(*box, 1), "Subject: split\r\n\r\na\r\nb\r\n");
  EXPECT_EQ(box->messages()[1].size, 24u);
}

TEST_P(StoreContract, BodyWrittenByteByByteIsTheSame) {
  const std::string body = "Subject: s\r\n\r\nx\r\n\r\ny\r\n";
  auto r = deliver({to("alice", "X-A: 1\r\n")}, body, 1);
  ASSERT_FALSE(r.at(0));
  auto box = open("alice");
  EXPECT_EQ(retr(*box, 0), "X-A: 1\r\n" + body);
}

TEST_P(StoreContract, OneBodyForSeveralRecipientsEachWithItsPrefix) {
  const std::string body = "Subject: both\r\n\r\nshared\r\n";
  auto r = deliver({to("alice", "Delivered-To: a\r\n"), to("bob", "Delivered-To: b\r\n")}, body);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_FALSE(r[0]);
  EXPECT_FALSE(r[1]);
  EXPECT_EQ(retr(*open("alice"), 0), "Delivered-To: a\r\n" + body);
  EXPECT_EQ(retr(*open("bob"), 0), "Delivered-To: b\r\n" + body);
}

TEST_P(StoreContract, DeleIsAppliedOnlyAtCommit) {
  for (int i = 0; i < 3; ++i) deliver_to("alice", "Subject: " + std::to_string(i) + "\r\n\r\n");
  auto before = uidls(*open("alice"));
  {
    auto box = open("alice");  // read, then gone without commit: nothing changes
    retr(*box, 0);
  }
  EXPECT_EQ(uidls(*open("alice")), before);
  {
    auto box = open("alice");
    const std::size_t del[] = {1};
    ASSERT_FALSE(box->commit(del, {}));
  }
  auto after = uidls(*open("alice"));
  EXPECT_EQ(after, (std::vector<std::string>{before[0], before[2]}));
}

TEST_P(StoreContract, RetrievedMessagesAreSeenLater) {
  deliver_to("alice", "Subject: a\r\n\r\n");
  deliver_to("alice", "Subject: b\r\n\r\n");
  {
    auto box = open("alice");
    EXPECT_FALSE(box->seen(0));
    const std::size_t read[] = {0};
    ASSERT_FALSE(box->commit({}, read));
  }
  auto box = open("alice");
  EXPECT_TRUE(box->seen(0));
  EXPECT_FALSE(box->seen(1));
  EXPECT_EQ(retr(*box, 0), "Subject: a\r\n\r\n");  // seen messages read the same
}

TEST_P(StoreContract, UidlsAreStableAndNeverReused) {
  for (int i = 0; i < 3; ++i) deliver_to("alice", "Subject: x\r\n\r\nsame\r\n");
  auto first = uidls(*open("alice"));
  EXPECT_EQ(std::set<std::string>(first.begin(), first.end()).size(), 3u);
  EXPECT_EQ(uidls(*open("alice", place_->reopen())), first);
  {
    auto box = open("alice");
    const std::size_t del[] = {0, 1, 2};
    ASSERT_FALSE(box->commit(del, {}));
  }
  deliver_to("alice", "Subject: x\r\n\r\nsame\r\n");
  auto later = uidls(*open("alice"));
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(std::count(first.begin(), first.end(), later[0]), 0);
}

TEST_P(StoreContract, AbortOrDestructionLeavesNothing) {
  {
    std::vector<DeliveryTarget> t{to("alice", "")};
    auto d = store_->begin_delivery(t);
    ASSERT_FALSE(d->write("Subject: aborted\r\n\r\n"));
    d->abort();
  }
  {
    std::vector<DeliveryTarget> t{to("alice", "")};
    auto d = store_->begin_delivery(t);
    ASSERT_FALSE(d->write("Subject: dropped\r\n\r\n"));
  }
  EXPECT_EQ(open("alice")->messages().size(), 0u);
  EXPECT_EQ(usage_of("alice"), Usage{});
}

TEST_P(StoreContract, ARecipientThatFailsDoesNotAffectTheOthers) {
  auto r = deliver({to("alice", ""), to("", ""), to("bob", "")}, "Subject: x\r\n\r\n");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_FALSE(r[0]);
  EXPECT_TRUE(r[1]);
  EXPECT_EQ(r[1], failure::permanent);
  EXPECT_FALSE(r[2]);
  EXPECT_EQ(open("alice")->messages().size(), 1u);
  EXPECT_EQ(open("bob")->messages().size(), 1u);
}

TEST_P(StoreContract, UsageIsKeptAcrossDeliveryAndDele) {
  EXPECT_EQ(usage_of("nobody-yet"), Usage{});
  deliver_to("alice", "Subject: 1\r\n\r\n" + std::string(1000, 'a') + "\r\n");
  Usage one = usage_of("alice");
  EXPECT_EQ(one.messages, 1u);
  EXPECT_GT(one.bytes, 1000u);
  deliver_to("alice", "Subject: 2\r\n\r\nb\r\n");
  Usage two = usage_of("alice");
  EXPECT_EQ(two.messages, 2u);
  EXPECT_GT(two.bytes, one.bytes);
  {
    auto box = open("alice");
    const std::size_t del[] = {0};
    ASSERT_FALSE(box->commit(del, {}));
  }
  Usage left = usage_of("alice");
  EXPECT_EQ(left.messages, 1u);
  EXPECT_EQ(left.bytes, two.bytes - one.bytes);
  EXPECT_EQ(usage_of("alice", place_->reopen()), left);
}

// Runs `work` in a child that dies (_exit) at fault point `where`.
void crash_at(const char* where, const std::function<void()>& work) {
  static const char* target = nullptr;
  target = where;
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    testing::set_fault_hook([](const char* at) {
      if (std::string_view(at) == target) ::_exit(42);
    });
    work();
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 42) << "the fault point " << where << " was never reached";
}

TEST_P(StoreContract, CrashInTheMiddleOfDeliveryLosesAndDuplicatesNothing) {
  deliver_to("alice", "Subject: before\r\n\r\n");
  const std::string body = "Subject: crash\r\n\r\nbody\r\n";
  crash_at("delivery.visible", [&] {
    std::vector<DeliveryTarget> t{to("alice", ""), to("bob", "")};
    auto d = store_->begin_delivery(t);
    (void)d->write(body);
    (void)d->commit();
  });
  auto after = place_->reopen();
  for (const char* user : {"alice", "bob"}) {
    auto box = open(user, after);
    ASSERT_TRUE(box);
    const auto& m = box->messages();
    auto ids = uidls(*box);
    EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
    std::size_t crashed = 0;
    for (std::size_t i = 0; i < m.size(); ++i) {
      std::string got = retr(*box, i);
      if (got == body) {
        ++crashed;
      } else {
        EXPECT_EQ(got, "Subject: before\r\n\r\n");
      }
    }
    EXPECT_LE(crashed, 1u) << user;
    box.reset();
    // The count agrees with what is there: the interrupted change is redone.
    EXPECT_EQ(usage_of(user, after).messages, m.size()) << user;
  }
  EXPECT_GE(open("alice", after)->messages().size(), 1u);  // "before" is kept
}

TEST_P(StoreContract, CrashInTheMiddleOfCommitLosesAndDuplicatesNothing) {
  for (int i = 0; i < 3; ++i) deliver_to("alice", "Subject: " + std::to_string(i) + "\r\n\r\n");
  auto before = uidls(*open("alice"));
  crash_at("commit.applied", [&] {
    std::error_code ec;
    auto box = store_->open("alice", ec);
    if (!box) return;
    const std::size_t del[] = {0};
    const std::size_t read[] = {1};
    (void)box->commit(del, read);
  });
  auto after = place_->reopen();
  auto box = open("alice", after);  // the dead session's lock is gone
  ASSERT_TRUE(box);
  auto ids = uidls(*box);
  // The DELE happened or not, as a whole; the others are all there, once.
  bool applied = ids.size() == 2;
  const std::vector<std::string> without_first{before[1], before[2]};
  EXPECT_EQ(ids, applied ? without_first : before);
  const std::size_t n = ids.size();
  box.reset();
  EXPECT_EQ(usage_of("alice", after).messages, n);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContract, ::testing::ValuesIn(contract_backends()),
                         [](const ::testing::TestParamInfo<ContractBackend>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace popbox::store::test
