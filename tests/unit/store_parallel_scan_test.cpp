// The parallel part of a Maildir listing: every file statted and measured
// once, on several threads that act with the caller's fs ids, and files
// that change between the listing and the read handled one by one.
#include <gtest/gtest.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/limits.hpp"
#include "core/privileges.hpp"
#include "store/mailbox.hpp"
#include "store/maildir_mailbox.hpp"
#include "store/maildir_name.hpp"
#include "store/maildir_scan.hpp"
#include "store/parallel_scan.hpp"
#include "store/unique_fd.hpp"
#include "store_test_util.hpp"

namespace popbox::store {
namespace {

using test::make_maildir;
using test::set_mtime;
using test::TempDir;
using test::write_file;

// Enough work that for_each_parallel starts helpers.
constexpr std::size_t many = 4 * limits::maildir_scan_files_per_thread;

// A uid/gid no file here belongs to and no test user has.
constexpr uid_t owner_uid = 45678;
constexpr gid_t owner_gid = 45678;

uid_t fsuid_now() {
  return static_cast<uid_t>(::setfsuid(static_cast<uid_t>(-1)));
}

// Message i: its stored bytes (LF, CRLF, mixed, no final newline, empty)
// and the RETR size they must give.
std::string body_of(std::size_t i) {
  std::string line = "line " + std::to_string(i);
  switch (i % 5) {
    case 0:
      return "Subject: " + line + "\n\n" + line + "\n";
    case 1:
      return "Subject: " + line + "\r\n\r\n" + line + "\r\n";
    case 2:
      return "Subject: mixed\r\n\n" + line;  // no final newline: CRLF added
    case 3:
      return "";
    default:
      return std::string(70'000 + i, 'x') + "\n.\n";  // more than one read block
  }
}

std::uint64_t wire_size(const std::string& stored) {
  std::uint64_t n = 0;
  for (std::size_t k = 0; k < stored.size(); ++k) {
    n += (stored[k] == '\n' && (k == 0 || stored[k - 1] != '\r')) ? 2 : 1;
  }
  if (!stored.empty() && stored.back() != '\n') n += 2;
  return n;
}

std::string name_of(std::size_t i) {
  return std::to_string(1'700'000'000 + i) + ".M" + std::to_string(i) + "P1.test";
}

class ParallelScanTest : public ::testing::Test {
 protected:
  std::string maildir() const { return tmp_ / "Maildir"; }
  std::string file(const std::string& rel) const { return maildir() + "/" + rel; }

  // `count` messages, odd ones in cur/ (seen), each with its own mtime.
  void fill(std::size_t count) {
    make_maildir(maildir());
    for (std::size_t i = 0; i < count; ++i) {
      std::string rel = i % 2 ? "cur/" + name_of(i) + ":2,S" : "new/" + name_of(i);
      write_file(file(rel), body_of(i));
      set_mtime(file(rel), static_cast<long>(1'700'000'000 + i));
    }
  }

  // Gives the whole tree to the mailbox owner; false where that needs root.
  bool give_to_owner() {
    for (const auto& e : std::filesystem::recursive_directory_iterator(tmp_.path())) {
      if (::lchown(e.path().c_str(), owner_uid, owner_gid) != 0) return false;
    }
    return ::chown(tmp_.path().c_str(), owner_uid, owner_gid) == 0;
  }

  // Loads the Maildir on a thread acting with the owner's fs ids, as the
  // server's pool does; `switched` is false without CAP_SETUID.
  std::unique_ptr<MaildirMailbox> load_as_owner(std::error_code& ec, bool& switched) {
    std::unique_ptr<MaildirMailbox> box;
    switched = true;
    std::thread caller([&] {
      core::FsIdGuard as_owner(owner_uid, owner_gid, ec);
      if (ec) {
        switched = false;
        return;
      }
      box = MaildirMailbox::load(maildir(), ec);
    });
    caller.join();
    return box;
  }

  TempDir tmp_;
};

TEST(ForEachParallel, RunsEveryIndexOnceOnSeveralThreads) {
  ASSERT_GE(detail::scan_helpers_for(many), 2u);
  std::vector<std::atomic<int>> runs(many);
  std::mutex m;
  std::set<std::thread::id> threads;
  detail::for_each_parallel(many, true, [&](std::size_t i, std::span<char> scratch) {
    runs[i].fetch_add(1);
    EXPECT_EQ(scratch.size(), limits::maildir_measure_block);
    std::this_thread::sleep_for(std::chrono::microseconds(50));  // spread the work
    std::lock_guard lock(m);
    threads.insert(std::this_thread::get_id());
  });
  for (std::size_t i = 0; i < many; ++i) ASSERT_EQ(runs[i].load(), 1) << i;
  EXPECT_GT(threads.size(), 1u);
}

TEST(ForEachParallel, SmallListingsStayOnTheCallingThread) {
  const std::size_t few = limits::maildir_scan_files_per_thread - 1;
  EXPECT_EQ(detail::scan_helpers_for(few), 0u);
  std::atomic<std::size_t> done{0};
  const auto me = std::this_thread::get_id();
  detail::for_each_parallel(few, false, [&](std::size_t, std::span<char> scratch) {
    EXPECT_EQ(std::this_thread::get_id(), me);
    EXPECT_TRUE(scratch.empty());
    done.fetch_add(1);
  });
  EXPECT_EQ(done.load(), few);
  detail::for_each_parallel(0, true, [&](std::size_t, std::span<char>) { ADD_FAILURE(); });
}

TEST(ForEachParallel, NoMoreThanTheProcessWideBudget) {
  EXPECT_EQ(detail::scan_helpers_for(std::size_t{1} << 30), limits::maildir_scan_threads);
  // Two listings at once: together they never exceed the budget (each
  // thread seen is one of at most 2 callers + maildir_scan_threads helpers).
  std::mutex m;
  std::set<std::thread::id> threads;
  auto listing = [&] {
    detail::for_each_parallel(many * 4, false, [&](std::size_t, std::span<char>) {
      std::lock_guard lock(m);
      threads.insert(std::this_thread::get_id());
    });
  };
  std::thread a(listing), b(listing);
  a.join();
  b.join();
  EXPECT_LE(threads.size(), 2 + limits::maildir_scan_threads);
}

// Every helper acts with the ids the caller had, here a mailbox owner's:
// never the server's own (or root's, which would bypass permissions).
TEST(ForEachParallel, HelpersActWithTheCallersFsIds) {
  std::vector<uid_t> seen(many, 0);
  std::set<std::thread::id> threads;
  std::mutex m;
  bool switched = true;
  std::thread caller([&] {
    std::error_code ec;
    core::FsIdGuard as_owner(owner_uid, owner_gid, ec);
    if (ec) {
      switched = false;
      return;
    }
    detail::for_each_parallel(many, false, [&](std::size_t i, std::span<char>) {
      seen[i] = fsuid_now();
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      std::lock_guard lock(m);
      threads.insert(std::this_thread::get_id());
    });
  });
  caller.join();
  if (!switched) GTEST_SKIP() << "no CAP_SETUID to act as a mailbox owner";
  for (std::size_t i = 0; i < many; ++i) ASSERT_EQ(seen[i], owner_uid) << i;
  EXPECT_GT(threads.size(), 1u);
}

TEST_F(ParallelScanTest, SizesAndUidlsOfEveryMessage) {
  fill(many);
  std::error_code ec;
  auto box = MaildirMailbox::load(maildir(), ec);
  ASSERT_TRUE(box) << ec.message();
  ASSERT_EQ(box->messages().size(), many);
  EXPECT_EQ(box->stats().sizes_measured, many);
  // Session order without an index: by mtime, i.e. by i.
  for (std::size_t i = 0; i < many; ++i) {
    ASSERT_EQ(box->messages()[i].uidl, name_of(i)) << i;
    ASSERT_EQ(box->messages()[i].size, wire_size(body_of(i))) << i;
  }
  // The index written from the parallel measurement serves the next login.
  box.reset();
  auto again = MaildirMailbox::load(maildir(), ec);
  ASSERT_TRUE(again) << ec.message();
  EXPECT_EQ(again->stats().sizes_measured, 0u);
  for (std::size_t i = 0; i < many; ++i) {
    ASSERT_EQ(again->messages()[i].size, wire_size(body_of(i))) << i;
  }
}

TEST_F(ParallelScanTest, SymlinksAndOtherNonFilesAreNotListed) {
  fill(many);
  write_file(tmp_ / "secret", "outside the Maildir\n");
  std::filesystem::create_symlink(tmp_ / "secret", file("new/1.link"));
  std::filesystem::create_symlink(tmp_ / "secret", file("cur/2.link:2,S"));
  std::filesystem::create_directory(file("new/3.dir"));
  std::error_code ec;
  auto box = MaildirMailbox::load(maildir(), ec);
  ASSERT_TRUE(box) << ec.message();
  EXPECT_EQ(box->messages().size(), many);
  for (const auto& m : box->messages()) EXPECT_EQ(m.uidl.find("link"), std::string::npos);
}

// Between the listing and the read: one file removed, one replaced by a
// symlink to a file outside the Maildir, one by a directory, one grown.
TEST_F(ParallelScanTest, FilesChangedAfterTheListingAreHandledOneByOne) {
  fill(many);
  write_file(tmp_ / "secret", std::string(5000, 's'));
  detail::UniqueFd new_fd(::open(file("new").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  detail::UniqueFd cur_fd(::open(file("cur").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(new_fd && cur_fd);
  std::vector<detail::ScannedFile> files;
  ASSERT_FALSE(detail::scan_maildir(new_fd.get(), cur_fd.get(), files));
  ASSERT_EQ(files.size(), many);
  auto path_of = [&](const detail::ScannedFile& f) {
    return file((f.dir == detail::Subdir::cur_dir ? "cur/" : "new/") + f.name);
  };
  const std::size_t removed = 10, symlinked = 11, dir = 12, grown = 13;
  std::filesystem::remove(path_of(files[removed]));
  std::filesystem::remove(path_of(files[symlinked]));
  std::filesystem::create_symlink(tmp_ / "secret", path_of(files[symlinked]));
  std::filesystem::remove(path_of(files[dir]));
  std::filesystem::create_directory(path_of(files[dir]));
  write_file(path_of(files[grown]), "grown\nto two lines\n");

  std::vector<std::size_t> todo(files.size());
  for (std::size_t i = 0; i < todo.size(); ++i) todo[i] = files.size() - 1 - i;  // any order
  std::vector<detail::Measured> out;
  detail::measure_files(new_fd.get(), cur_fd.get(), files, todo, out);
  ASSERT_EQ(out.size(), todo.size());
  for (std::size_t k = 0; k < todo.size(); ++k) {
    std::size_t i = todo[k];
    const std::size_t n = std::stoul(files[i].name.substr(files[i].name.find(".M") + 2));
    if (i == removed) {
      EXPECT_EQ(out[k].ec, std::errc::no_such_file_or_directory);
    } else if (i == symlinked) {
      EXPECT_EQ(out[k].ec, store_errc::unsafe_path);  // never followed, never read
    } else if (i == dir) {
      EXPECT_TRUE(out[k].ec) << "a directory is not a message";
    } else if (i == grown) {
      EXPECT_FALSE(out[k].ec);
      EXPECT_EQ(out[k].crlf_size, 21u);
      EXPECT_EQ(files[i].file_size, 19u);  // the size the measurement saw
    } else {
      ASSERT_FALSE(out[k].ec) << files[i].name << ": " << out[k].ec.message();
      ASSERT_EQ(out[k].crlf_size, wire_size(body_of(n))) << files[i].name;
    }
  }
}

// A message the owner cannot read fails the open, as in a serial listing,
// whichever thread reads it; the others are not shown without it.
TEST_F(ParallelScanTest, PermissionErrorFailsTheOpenUnderTheOwnersIds) {
  fill(many);
  write_file(file("new/" + name_of(many)), "unreadable\n");
  ::chmod(file("new/" + name_of(many)).c_str(), 0);
  if (!give_to_owner()) GTEST_SKIP() << "cannot give the files to another user (not root)";
  std::error_code ec;
  bool switched = true;
  std::unique_ptr<MaildirMailbox> box = load_as_owner(ec, switched);
  if (!switched) GTEST_SKIP() << "no CAP_SETUID to act as a mailbox owner";
  EXPECT_FALSE(box);
  EXPECT_EQ(ec, std::errc::permission_denied);
  // Readable again: the same owner opens all of them.
  ::chmod(file("new/" + name_of(many)).c_str(), 0600);
  box = load_as_owner(ec, switched);
  ASSERT_TRUE(box) << ec.message();
  EXPECT_EQ(box->messages().size(), many + 1);
}

// Measuring is not reading: a file's atime stays (relatime would update an
// atime not newer than the mtime), so the first listing writes no inodes.
TEST_F(ParallelScanTest, MeasuringLeavesTheAtime) {
  fill(many);
  std::error_code ec;
  auto box = MaildirMailbox::load(maildir(), ec);
  ASSERT_TRUE(box) << ec.message();
  struct stat st {};
  ASSERT_EQ(::stat(file("new/" + name_of(0)).c_str(), &st), 0);
  EXPECT_EQ(st.st_atim.tv_sec, 1'700'000'000);
  ASSERT_EQ(::stat(file("cur/" + name_of(many - 1) + ":2,S").c_str(), &st), 0);
  EXPECT_EQ(st.st_atim.tv_sec, static_cast<long>(1'700'000'000 + many - 1));
}

// O_NOATIME is the owner's privilege: a readable file of someone else is
// measured all the same.
TEST_F(ParallelScanTest, ReadableFilesOfAnotherUserAreMeasured) {
  fill(many);
  if (!give_to_owner()) GTEST_SKIP() << "not root";
  const std::string other = file("new/" + name_of(many));
  write_file(other, "someone else's\n");
  ASSERT_EQ(::chown(other.c_str(), owner_uid + 1, owner_gid + 1), 0);
  ASSERT_EQ(::chmod(other.c_str(), 0644), 0);
  std::error_code ec;
  bool switched = true;
  std::unique_ptr<MaildirMailbox> box = load_as_owner(ec, switched);
  if (!switched) GTEST_SKIP() << "no CAP_SETUID to act as a mailbox owner";
  ASSERT_TRUE(box) << ec.message();
  ASSERT_EQ(box->messages().size(), many + 1);
  bool found = false;
  for (const auto& m : box->messages()) {
    if (m.uidl == name_of(many)) found = m.size == 16;
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace popbox::store
