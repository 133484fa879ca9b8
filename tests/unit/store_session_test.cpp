// A Mailbox during a session: the lock, reading, commit, the snapshot; and a
// disabled benchmark for opening a large maildrop.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "store/maildir_index.hpp"
#include "store/maildir_mailbox.hpp"
#include "store/maildir_snapshot.hpp"
#include "store/maildir_store.hpp"
#include "store/maildrop_lock.hpp"
#include "store/safe_open.hpp"
#include "store_test_util.hpp"

namespace popbox::store {
namespace {

using test::exists;
using test::make_maildir;
using test::read_all;
using test::set_mtime;
using test::TempDir;
using test::write_file;

class SessionTest : public ::testing::Test {
 protected:
  SessionTest() : store_(tmp_.path() + "/%u") {}

  std::string maildir() const { return tmp_ / "bob"; }
  std::string file(std::string_view rel) const { return maildir() + "/" + std::string(rel); }
  void deliver(std::string_view rel, std::string_view body, long mtime) {
    write_file(file(rel), body);
    set_mtime(file(rel), mtime);
  }
  std::unique_ptr<Mailbox> open_box(std::error_code& ec) { return store_.open("bob", ec); }
  std::unique_ptr<Mailbox> open_box() {
    std::error_code ec;
    auto box = open_box(ec);
    EXPECT_FALSE(ec) << ec.message();
    return box;
  }
  std::vector<std::string> names(std::string_view sub) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(file(sub))) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  TempDir tmp_;
  MaildirStore store_;
};

TEST_F(SessionTest, SecondOpenIsInUseUntilDestroyed) {
  auto first = open_box();
  ASSERT_TRUE(first);
  std::error_code ec;
  EXPECT_FALSE(open_box(ec));
  EXPECT_EQ(ec, store_errc::in_use);
  EXPECT_EQ(ec.message(), "maildrop is locked by another session");
  first.reset();
  EXPECT_TRUE(open_box());
}

TEST_F(SessionTest, OtherUsersAreIndependent) {
  auto bob = open_box();
  std::error_code ec;
  auto alice = store_.open("alice", ec);
  EXPECT_TRUE(alice) << ec.message();
}

TEST_F(SessionTest, LockOfKilledProcessIsFreed) {
  open_box();  // create the Maildir first
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::error_code ec;
    auto box = store_.open("bob", ec);
    char c = box ? 'y' : 'n';
    if (::write(ready[1], &c, 1) != 1) ::_exit(2);
    for (;;) ::pause();  // hold the lock until killed
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  ASSERT_EQ(c, 'y');
  std::error_code ec;
  EXPECT_FALSE(open_box(ec));
  EXPECT_EQ(ec, store_errc::in_use);
  ::kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_TRUE(open_box());
}

TEST_F(SessionTest, SnapshotIgnoresLaterDelivery) {
  open_box();
  deliver("new/1.first", "one\n", 10);
  auto box = open_box();
  deliver("new/2.second", "two\n", 20);
  ASSERT_EQ(box->messages().size(), 1u);
  EXPECT_EQ(box->messages()[0].uidl, "1.first");
  // Commit leaves the newcomer alone.
  ASSERT_FALSE(box->commit(std::vector<std::size_t>{0}, {}));
  EXPECT_TRUE(exists(file("new/2.second")));
  box.reset();
  auto next = open_box();
  ASSERT_EQ(next->messages().size(), 1u);
  EXPECT_EQ(next->messages()[0].uidl, "2.second");
}

TEST_F(SessionTest, ReaderFollowsRenameBeforeOpen) {
  open_box();
  deliver("new/1.msg,S=6", "hello\n", 10);
  deliver("cur/2.msg:2,S", "again\n", 20);
  auto box = open_box();
  // Another program marks them (new/ -> cur/, new flags).
  std::filesystem::rename(file("new/1.msg,S=6"), file("cur/1.msg,S=6:2,S"));
  std::filesystem::rename(file("cur/2.msg:2,S"), file("cur/2.msg:2,FS"));
  for (std::size_t i = 0; i < 2; ++i) {
    std::error_code ec;
    auto reader = box->open(i, ec);
    ASSERT_TRUE(reader) << i << ": " << ec.message();
    EXPECT_EQ(read_all(*reader), i == 0 ? "hello\n" : "again\n");
  }
}

TEST_F(SessionTest, ReaderKeepsReadingAfterRenameOrUnlink) {
  open_box();
  std::string big(300'000, 'b');
  deliver("new/1.big", big, 10);
  auto box = open_box();
  std::error_code ec;
  auto reader = box->open(0, ec);
  ASSERT_TRUE(reader);
  char buf[1000];
  ASSERT_EQ(reader->read(buf, ec), sizeof buf);
  std::filesystem::rename(file("new/1.big"), file("cur/1.big:2,S"));
  std::filesystem::remove(file("cur/1.big:2,S"));
  EXPECT_EQ(read_all(*reader, 65536).size(), big.size() - sizeof buf);
}

TEST_F(SessionTest, ReaderReportsGoneMessage) {
  open_box();
  deliver("new/1.msg", "x\n", 10);
  auto box = open_box();
  std::filesystem::remove(file("new/1.msg"));
  std::error_code ec;
  EXPECT_FALSE(box->open(0, ec));
  EXPECT_EQ(ec, store_errc::message_gone);
  EXPECT_THROW(box->open(1, ec), std::out_of_range);
}

TEST_F(SessionTest, CommitDeletesAndMarksSeen) {
  open_box();
  deliver("new/1.del", "x\n", 1);
  deliver("new/2.seen,S=2", "x\n", 2);
  deliver("cur/3.flagged:2,F", "x\n", 3);
  deliver("cur/4.already:2,RS", "x\n", 4);
  deliver("new/5.untouched", "x\n", 5);
  deliver("cur/6.del:2,S", "x\n", 6);
  deliver("new/7.both", "x\n", 7);
  auto box = open_box();
  ASSERT_EQ(box->messages().size(), 7u);
  std::vector<std::size_t> deleted = {0, 5, 6};
  std::vector<std::size_t> retrieved = {1, 2, 3, 6, 1};
  EXPECT_FALSE(box->commit(deleted, retrieved));
  EXPECT_EQ(names("new"), (std::vector<std::string>{"5.untouched"}));
  EXPECT_EQ(names("cur"),
            (std::vector<std::string>{"2.seen,S=2:2,S", "3.flagged:2,FS", "4.already:2,RS"}));
  box.reset();
  auto next = open_box();
  std::vector<std::string> uidls;
  for (const auto& m : next->messages()) uidls.push_back(m.uidl);
  EXPECT_EQ(uidls, (std::vector<std::string>{"2.seen", "3.flagged", "4.already", "5.untouched"}));
  // The index was rewritten without the deleted ones: nothing to drop now.
  auto* maildir_box = dynamic_cast<MaildirMailbox*>(next.get());
  ASSERT_TRUE(maildir_box);
  EXPECT_EQ(maildir_box->stats().index_entries_dropped, 0u);
  EXPECT_EQ(maildir_box->stats().sizes_from_index, 4u);
}

TEST_F(SessionTest, CommitDeletesEveryCopyOfABase) {
  open_box();
  deliver("new/1.dup", "x\n", 1);
  std::filesystem::create_hard_link(file("new/1.dup"), file("cur/1.dup:2,S"));
  deliver("new/2.dup", "y\n", 2);
  std::filesystem::create_hard_link(file("new/2.dup"), file("cur/2.dup:2,"));
  auto box = open_box();
  ASSERT_EQ(box->messages().size(), 2u);
  EXPECT_FALSE(box->commit(std::vector<std::size_t>{0}, std::vector<std::size_t>{1}));
  EXPECT_EQ(names("cur"), (std::vector<std::string>{"2.dup:2,S"}));
  // The stale copy of a kept message does no harm: cur/ wins next time too.
  EXPECT_EQ(names("new"), (std::vector<std::string>{"2.dup"}));
  box.reset();
  auto next = open_box();
  ASSERT_EQ(next->messages().size(), 1u);
  EXPECT_EQ(next->messages()[0].uidl, "2.dup");
}

TEST_F(SessionTest, GoneMessageIsNotSearchedTwice) {
  open_box();
  deliver("new/1.a", "x\n", 1);
  auto box = open_box();
  std::filesystem::remove(file("new/1.a"));
  std::error_code ec;
  EXPECT_FALSE(box->open(0, ec));
  EXPECT_EQ(ec, store_errc::message_gone);
  // Even if a file of that name shows up again, the snapshot says gone.
  deliver("new/1.a", "x\n", 1);
  EXPECT_FALSE(box->open(0, ec));
  EXPECT_EQ(ec, store_errc::message_gone);
  EXPECT_FALSE(box->commit(std::vector<std::size_t>{0}, {}));
}

TEST_F(SessionTest, CommitToleratesVanishedAndRenamedFiles) {
  open_box();
  deliver("new/1.gone", "x\n", 1);
  deliver("new/2.moved", "x\n", 2);
  deliver("new/3.seen-gone", "x\n", 3);
  deliver("new/4.seen-moved", "x\n", 4);
  auto box = open_box();
  std::filesystem::remove(file("new/1.gone"));
  std::filesystem::rename(file("new/2.moved"), file("cur/2.moved:2,F"));
  std::filesystem::remove(file("new/3.seen-gone"));
  std::filesystem::rename(file("new/4.seen-moved"), file("cur/4.seen-moved:2,T"));
  EXPECT_FALSE(box->commit(std::vector<std::size_t>{0, 1}, std::vector<std::size_t>{2, 3}));
  EXPECT_TRUE(names("new").empty());
  EXPECT_EQ(names("cur"), (std::vector<std::string>{"4.seen-moved:2,ST"}));
}

TEST_F(SessionTest, CommitLeavesUnknownInfoAlone) {
  open_box();
  deliver("cur/1.odd:1,experimental", "x\n", 1);
  auto box = open_box();
  EXPECT_FALSE(box->commit({}, std::vector<std::size_t>{0}));
  EXPECT_EQ(names("cur"), (std::vector<std::string>{"1.odd:1,experimental"}));
}

TEST_F(SessionTest, CommitReportsFailureButTriesEverything) {
  open_box();
  deliver("new/1.a", "x\n", 1);
  deliver("new/2.b", "x\n", 2);
  auto box = open_box();
  // Replace the first file by a non-empty directory: unlink fails (EISDIR),
  // the second message is still deleted.
  std::filesystem::remove(file("new/1.a"));
  std::filesystem::create_directories(file("new/1.a/sub"));
  std::error_code ec = box->commit(std::vector<std::size_t>{0, 1}, {});
  EXPECT_TRUE(ec);
  EXPECT_EQ(ec.category(), std::system_category());
  EXPECT_FALSE(exists(file("new/2.b")));
  EXPECT_THROW(box->commit(std::vector<std::size_t>{2}, {}), std::out_of_range);
}

TEST_F(SessionTest, OpenAfterCommitDeleteIsGone) {
  open_box();
  deliver("new/1.a", "x\n", 1);
  auto box = open_box();
  ASSERT_FALSE(box->commit(std::vector<std::size_t>{0}, {}));
  std::error_code ec;
  EXPECT_FALSE(box->open(0, ec));
  EXPECT_EQ(ec, store_errc::message_gone);
}

// Opening a 100,000-message maildrop, without and with the index. Run with
// --gtest_also_run_disabled_tests --gtest_filter='*Bench*'.
TEST(StoreBench, DISABLED_Open100k) {
  constexpr int count = 100'000;
  TempDir tmp;
  std::string root = tmp / "Maildir";
  make_maildir(root);
  std::string body =
      "From: a@example.com\nTo: b@example.com\nSubject: bench\n\n"
      "Hello, this is a message body line of typical length for a test.\n";
  for (int i = 0; i < count; ++i) {
    std::string name = std::to_string(1'700'000'000 + i) + ".M" + std::to_string(i) +
                       "P1234.bench.example.com,S=" + std::to_string(body.size());
    std::string path = root + (i % 2 ? "/new/" : "/cur/") + name + (i % 2 ? "" : ":2,S");
    write_file(path, body);
  }
  // A mailbox's directories last changed a while ago, not during its
  // listing: otherwise every scan is "dirty" (Dovecot's rule).
  set_mtime(root + "/new", static_cast<long>(std::time(nullptr)) - 100);
  set_mtime(root + "/cur", static_cast<long>(std::time(nullptr)) - 100);
  auto time_open = [&](const char* label) {
    auto start = std::chrono::steady_clock::now();
    std::error_code ec;
    auto box = MaildirMailbox::load(root, ec);
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
    ASSERT_TRUE(box) << ec.message();
    ASSERT_EQ(box->messages().size(), static_cast<std::size_t>(count));
    std::printf("%-36s %9.1f ms (measured %zu, from index %zu, %s)\n", label, ms.count(),
                box->stats().sizes_measured, box->stats().sizes_from_index,
                box->stats().listed ? "listed" : "snapshot");
  };
  time_open("cold (no index, page cache warm)");  // closes UIDL adoption
  time_open("index (listed, writes snapshot)");
  time_open("warm (snapshot)");
  time_open("warm (snapshot), again");
  // POPBOX_BENCH_WARM_ROUNDS=N: N more warm opens (for perf record).
  if (const char* rounds = std::getenv("POPBOX_BENCH_WARM_ROUNDS")) {
    double best = 1e9;
    for (int i = 0; i < std::atoi(rounds); ++i) {
      auto start = std::chrono::steady_clock::now();
      std::error_code ec;
      auto box = MaildirMailbox::load(root, ec);
      best = std::min(
          best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count());
    }
    std::printf("%-36s %9.1f ms\n", "warm, best of the rounds", best);
  }
  std::filesystem::remove(root + "/" + detail::snapshot_file_name);
  time_open("snapshot deleted (index, listed)");
  std::filesystem::remove(root + "/" + detail::index_file_name);
  time_open("index deleted");
}

// What an idle session's Mailbox costs for a small box (20 messages), and
// what opening a message costs now that no directory descriptor is kept.
TEST(StoreBench, DISABLED_SmallBoxCost) {
  TempDir tmp;
  std::string root = tmp / "Maildir";
  make_maildir(root);
  for (int i = 0; i < 20; ++i) {
    std::string name = std::to_string(1'700'000'000 + i) + ".M" + std::to_string(i) +
                       "P1234.host.example.com,S=120";
    write_file(root + "/cur/" + name + ":2,S", std::string(120, 'x'));
  }
  set_mtime(root + "/new", static_cast<long>(std::time(nullptr)) - 100);
  set_mtime(root + "/cur", static_cast<long>(std::time(nullptr)) - 100);
  for (int i = 0; i < 3; ++i) {  // close adoption, write the snapshot, warm
    std::error_code ec;
    MaildirMailbox::load(root, ec);
  }
  std::error_code ec;
  auto box = MaildirMailbox::load(root, ec);
  ASSERT_TRUE(box);
  // Counted from the containers: malloc's tcache makes mallinfo2 deltas lie.
  std::printf("open Mailbox, 20 messages: %zu bytes on the heap (%s; sizeof %zu)\n",
              box->heap_bytes(), box->stats().listed ? "listed" : "snapshot",
              sizeof(MaildirMailbox));
  std::size_t uidl_heap = 0;
  for (const auto& m : box->messages())
    uidl_heap += m.uidl.capacity() > 15 ? m.uidl.capacity() + 1 : 0;
  std::printf("  of which UIDL strings (MessageInfo): %zu bytes + %zu for the vector\n", uidl_heap,
              box->messages().capacity() * sizeof(MessageInfo));
  constexpr int rounds = 20'000;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) {
    auto reader = box->open(static_cast<std::size_t>(i % 20), ec);
    ASSERT_TRUE(reader);
  }
  auto us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start);
  std::printf("open a message (re-opens the Maildir): %.2f us\n", us.count() / rounds);
  // The same with a kept descriptor of cur/, as before issue 8.
  detail::UniqueFd cur;
  ASSERT_FALSE(detail::open_dir_beneath(
      detail::UniqueFd(::open(root.c_str(), O_RDONLY | O_DIRECTORY)).get(), "cur", cur));
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(root + "/cur")) {
    names.push_back(e.path().filename().string());
  }
  start = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) {
    detail::UniqueFd fd;
    ASSERT_FALSE(detail::open_beneath(cur.get(), names[static_cast<std::size_t>(i) % 20].c_str(),
                                      O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, fd));
  }
  us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start);
  std::printf("open a message with a kept cur/ descriptor: %.2f us\n", us.count() / rounds);
  box.reset();
  // Taking and dropping the maildrop lock, in both schemes.
  detail::UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  for (bool shared : {false, true}) {
    configure_maildrop_locks(shared ? tmp / "maildrop.lock" : "");
    start = std::chrono::steady_clock::now();
    for (int i = 0; i < rounds; ++i) {
      auto lock = detail::MaildropLock::acquire(dir.get(), ec);
      ASSERT_TRUE(lock.held()) << ec.message();
    }
    us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start);
    std::printf("lock + unlock, %s: %.2f us\n", shared ? "shared lock file" : "per-Maildir flock",
                us.count() / rounds);
  }
  configure_maildrop_locks("");
}

}  // namespace
}  // namespace popbox::store
