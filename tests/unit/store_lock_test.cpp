// Maildrop locks: the shared lock file (OFD byte ranges, no descriptor per
// session) and the per-Maildir flock fallback, and that processes using
// either exclude each other.
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "store/maildir_mailbox.hpp"
#include "store/maildir_store.hpp"
#include "store/maildrop_lock.hpp"
#include "store_test_util.hpp"

namespace popbox::store {
namespace {

using test::TempDir;

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

class LockTest : public ::testing::Test {
 protected:
  LockTest() : store_(tmp_.path() + "/%u") {}
  ~LockTest() override { configure_maildrop_locks(""); }  // back to the default

  std::string lock_file() const { return tmp_ / "maildrop.lock"; }
  std::unique_ptr<Mailbox> open_box(const std::string& user, std::error_code& ec) {
    return store_.open(user, ec);
  }

  // Runs `configure` in a child, which opens bob's maildrop and holds it
  // until killed; returns its pid once it holds (or failed: 'n').
  pid_t hold_in_child(const std::string& lock_file, char& answer) {
    int ready[2];
    if (::pipe(ready) != 0) return -1;
    pid_t child = ::fork();
    if (child == 0) {
      configure_maildrop_locks(lock_file);
      std::error_code ec;
      auto box = store_.open("bob", ec);
      char c = box ? 'y' : 'n';
      if (::write(ready[1], &c, 1) != 1) ::_exit(2);
      for (;;) ::pause();
    }
    ::close(ready[1]);
    answer = 0;
    if (::read(ready[0], &answer, 1) != 1) answer = '?';
    ::close(ready[0]);
    return child;
  }

  static void kill_child(pid_t child) {
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
  }

  TempDir tmp_;
  MaildirStore store_;
};

TEST_F(LockTest, SharedFileIsCreatedPrivateAndUsed) {
  configure_maildrop_locks(lock_file());
  EXPECT_TRUE(maildrop_locks_shared());
  struct stat st {};
  ASSERT_EQ(::stat(lock_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  configure_maildrop_locks("");
  EXPECT_FALSE(maildrop_locks_shared());
}

TEST_F(LockTest, SymlinkedLockFileFallsBackToFlock) {
  std::filesystem::create_symlink(tmp_ / "elsewhere", lock_file());
  configure_maildrop_locks(lock_file());
  EXPECT_FALSE(maildrop_locks_shared());
  EXPECT_FALSE(test::exists(tmp_ / "elsewhere")) << "must not create through the symlink";
  std::error_code ec;
  auto first = open_box("bob", ec);
  ASSERT_TRUE(first) << ec.message();
  EXPECT_FALSE(open_box("bob", ec));
  EXPECT_EQ(ec, store_errc::in_use);
}

TEST_F(LockTest, SessionsOfOneProcessExclude) {
  configure_maildrop_locks(lock_file());
  std::error_code ec;
  auto first = open_box("bob", ec);
  ASSERT_TRUE(first) << ec.message();
  EXPECT_FALSE(open_box("bob", ec));
  EXPECT_EQ(ec, store_errc::in_use);
  auto alice = open_box("alice", ec);
  EXPECT_TRUE(alice) << ec.message();
  first.reset();
  EXPECT_TRUE(open_box("bob", ec)) << ec.message();
}

TEST_F(LockTest, OpenMailboxHoldsNoDescriptor) {
  configure_maildrop_locks(lock_file());
  std::error_code ec;
  open_box("bob", ec);  // create it
  test::write_file(tmp_ / "bob/new/1.a", "one\n");
  std::size_t before = open_fds();
  std::vector<std::unique_ptr<Mailbox>> boxes;
  for (const char* user : {"bob", "carol", "dave", "erin"}) {
    boxes.push_back(open_box(user, ec));
    ASSERT_TRUE(boxes.back()) << ec.message();
  }
  EXPECT_EQ(open_fds(), before);
  auto reader = boxes[0]->open(0, ec);
  ASSERT_TRUE(reader) << ec.message();
  EXPECT_EQ(test::read_all(*reader), "one\n");
  EXPECT_EQ(open_fds(), before + 1);  // only the message itself
  reader.reset();
  EXPECT_FALSE(boxes[0]->commit(std::vector<std::size_t>{0}, {}));
  EXPECT_EQ(open_fds(), before);
}

TEST_F(LockTest, ReplacedMaildirIsNotUsed) {
  configure_maildrop_locks(lock_file());
  std::error_code ec;
  open_box("bob", ec);
  test::write_file(tmp_ / "bob/new/1.a", "one\n");
  auto box = open_box("bob", ec);
  ASSERT_TRUE(box);
  std::filesystem::rename(tmp_ / "bob", tmp_ / "bob.old");
  test::make_maildir(tmp_ / "bob");
  test::write_file(tmp_ / "bob/new/1.a", "other\n");
  EXPECT_FALSE(box->open(0, ec));
  EXPECT_EQ(ec, store_errc::io);  // the locked directory is gone from the path
}

TEST_F(LockTest, ProcessesExcludeEachOtherAndKillReleases) {
  configure_maildrop_locks(lock_file());
  std::error_code ec;
  open_box("bob", ec);  // create the Maildir, release
  char answer = 0;
  pid_t child = hold_in_child(lock_file(), answer);
  ASSERT_GT(child, 0);
  ASSERT_EQ(answer, 'y');
  EXPECT_FALSE(open_box("bob", ec));
  EXPECT_EQ(ec, store_errc::in_use);
  EXPECT_TRUE(open_box("alice", ec)) << ec.message();
  kill_child(child);
  EXPECT_TRUE(open_box("bob", ec)) << ec.message();
}

TEST_F(LockTest, SharedAndFlockProcessesExcludeEachOther) {
  std::error_code ec;
  open_box("bob", ec);
  // A flock holder (an older popbox, or one that cannot open the file)...
  char answer = 0;
  pid_t child = hold_in_child("", answer);
  ASSERT_EQ(answer, 'y');
  configure_maildrop_locks(lock_file());
  EXPECT_FALSE(open_box("bob", ec));
  EXPECT_EQ(ec, store_errc::in_use);
  kill_child(child);
  EXPECT_TRUE(open_box("bob", ec)) << ec.message();
}

TEST_F(LockTest, FlockProcessSeesSharedHolder) {
  // The other way round: this process holds bob in the shared file; a
  // process that can only read the file (so it falls back to flock) must
  // still see that. Needs root, to be another user in the child.
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  configure_maildrop_locks(lock_file());
  std::error_code ec;
  auto held = open_box("bob", ec);
  ASSERT_TRUE(held) << ec.message();
  constexpr uid_t nobody = 65534;
  for (const auto& e : std::filesystem::recursive_directory_iterator(tmp_.path())) {
    ASSERT_EQ(::lchown(e.path().c_str(), nobody, nobody), 0);
  }
  ASSERT_EQ(::chown(tmp_.path().c_str(), nobody, nobody), 0);
  ASSERT_EQ(::chown(lock_file().c_str(), 0, 0), 0);
  ASSERT_EQ(::chmod(lock_file().c_str(), 0644), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(nobody, nobody, nobody) != 0 ||
        ::setresuid(nobody, nobody, nobody) != 0) {
      ::_exit(3);
    }
    configure_maildrop_locks(lock_file());
    if (maildrop_locks_shared()) ::_exit(4);
    std::error_code cec;
    auto box = store_.open("bob", cec);
    if (box) ::_exit(1);
    ::_exit(cec == store_errc::in_use ? 0 : 2);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: opened although held, 2: other error";
}

TEST(LockOffset, SpreadAndBounded) {
  EXPECT_NE(detail::lock_offset(1, 2), detail::lock_offset(2, 1));
  EXPECT_NE(detail::lock_offset(1, 2), detail::lock_offset(1, 3));
  for (ino_t ino = 0; ino < 1000; ++ino) EXPECT_LT(detail::lock_offset(66, ino), 1ULL << 62);
}

}  // namespace
}  // namespace popbox::store
