// MaildirStore opening: creation, scanning, sizes, UIDLs, order, the index.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "store/maildir_index.hpp"
#include "store/maildir_mailbox.hpp"
#include "store/maildir_name.hpp"
#include "store/maildir_store.hpp"
#include "store_test_util.hpp"

namespace popbox::store {
namespace {

using test::make_maildir;
using test::read_all;
using test::read_file;
using test::set_mtime;
using test::TempDir;
using test::write_file;
using Index = MaildirOpenStats::Index;

class MaildirTest : public ::testing::Test {
 protected:
  std::string maildir() const { return tmp_ / "bob/Maildir"; }
  std::string file(std::string_view rel) const { return maildir() + "/" + std::string(rel); }

  // Delivers a message file with a given mtime (seconds), like an MDA would.
  void deliver(std::string_view rel, std::string_view body, long mtime = 1'700'000'000) {
    write_file(file(rel), body);
    set_mtime(file(rel), mtime);
  }

  std::unique_ptr<MaildirMailbox> open_box() {
    std::error_code ec;
    auto box = MaildirMailbox::load(maildir(), ec);
    EXPECT_FALSE(ec) << ec.message();
    return box;
  }

  std::vector<std::string> uidls(const Mailbox& box) {
    std::vector<std::string> out;
    for (const auto& m : box.messages()) out.push_back(m.uidl);
    return out;
  }

  void remove_index() { std::filesystem::remove(file(detail::index_file_name)); }

  TempDir tmp_;
};

TEST_F(MaildirTest, StoreCreatesMissingMaildir) {
  MaildirStore store(tmp_.path() + "/%d/%n/Maildir");
  std::error_code ec;
  auto box = store.open("bob@example.com", ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(box);
  EXPECT_TRUE(box->messages().empty());
  std::string root = tmp_.path() + "/example.com/bob/Maildir";
  EXPECT_EQ(store.maildir_path("bob@example.com", ec), root);
  for (const char* sub : {"", "/new", "/cur", "/tmp"}) {
    struct stat st {};
    ASSERT_EQ(::stat((root + sub).c_str(), &st), 0) << sub;
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0700u) << sub;
  }
}

TEST_F(MaildirTest, StoreRejectsBadUser) {
  MaildirStore store(tmp_.path() + "/%d/%n");
  for (std::string user : {"bob@", "../x@y", "bob@..", "a/b@c", "", "@example.com"}) {
    std::error_code ec;
    EXPECT_FALSE(store.open(user, ec)) << user;
    EXPECT_EQ(ec, store_errc::bad_path) << user;
  }
  EXPECT_TRUE(std::filesystem::is_empty(tmp_.path()));
  EXPECT_THROW(MaildirStore("relative/%u"), std::invalid_argument);
}

TEST_F(MaildirTest, StoreReportsFileInTheWay) {
  write_file(tmp_ / "bob", "not a directory");
  MaildirStore store(tmp_.path() + "/%u/Maildir");
  std::error_code ec;
  EXPECT_FALSE(store.open("bob", ec));
  EXPECT_EQ(ec, std::errc::not_a_directory);
}

TEST_F(MaildirTest, CreatesMissingSubdirectories) {
  std::filesystem::create_directories(maildir() + "/new");
  auto box = open_box();
  ASSERT_TRUE(box);
  EXPECT_TRUE(std::filesystem::is_directory(file("cur")));
  EXPECT_TRUE(std::filesystem::is_directory(file("tmp")));
}

TEST_F(MaildirTest, ScansPlainAndDovecotNames) {
  make_maildir(maildir());
  deliver("new/1700000001.M1P1.host", "a\n", 1);
  deliver("new/1700000002.M2P2.host,S=2,W=3", "b\n", 2);
  deliver("cur/1700000003.M3P3.host,S=2:2,S", "c\n", 3);
  deliver("cur/1700000004.M4P4.host:2,FRS", "d\n", 4);
  deliver("cur/1700000005.M5P5.host,W=9,S=2:2,", "e\n", 5);
  deliver("cur/plainname", "f\n", 6);
  // Not messages: tmp/, dotfiles, subdirectories, symlinks, other files.
  deliver("tmp/1700000009.M9P9.host", "tmp\n", 7);
  deliver("new/.hidden", "x\n", 8);
  deliver("cur/.1700000010.M10P10.host:2,S", "x\n", 8);
  std::filesystem::create_directory(file("cur/subdir"));
  std::filesystem::create_symlink("/etc/passwd", file("cur/evil-link"));
  auto box = open_box();
  ASSERT_TRUE(box);
  EXPECT_EQ(uidls(*box), (std::vector<std::string>{"1700000001.M1P1.host", "1700000002.M2P2.host",
                                                   "1700000003.M3P3.host", "1700000004.M4P4.host",
                                                   "1700000005.M5P5.host", "plainname"}));
  for (const auto& m : box->messages()) EXPECT_EQ(m.size, 3u) << m.uidl;
  std::error_code ec;
  auto reader = box->open(4, ec);
  ASSERT_TRUE(reader) << ec.message();
  EXPECT_EQ(read_all(*reader), "e\n");
}

TEST_F(MaildirTest, Sizes) {
  make_maildir(maildir());
  std::string long_line(6000, 'x');
  std::string binary;
  for (int c = 0; c < 256; ++c) binary += static_cast<char>(c);  // one LF, one CR
  const std::vector<std::pair<std::string, std::uint64_t>> cases = {
      {"", 0},
      {"a", 3},
      {"a\n", 3},
      {"a\r\n", 3},
      {"a\nb\n", 6},
      {"a\r\nb\nc", 9},
      {"\n\n\n", 6},
      {"\r", 3},  // a lone CR is content: the last line is unterminated
      {"a\rb\n", 5},
      {long_line + "\n" + long_line, 6000 + 2 + 6000 + 2},
      {long_line + "\r\n", 6002},
      {binary, 256 + 1 + 2},  // LF gets a CR; ends in 0xFF, so CRLF added
      {std::string("\0\0\n", 3), 4},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    deliver("new/msg" + std::to_string(100 + i), cases[i].first,
            1'700'000'000 + static_cast<long>(i));
  }
  for (int round = 0; round < 2; ++round) {  // measured, then from the index
    auto box = open_box();
    ASSERT_TRUE(box);
    ASSERT_EQ(box->messages().size(), cases.size());
    for (std::size_t i = 0; i < cases.size(); ++i) {
      EXPECT_EQ(box->messages()[i].size, cases[i].second) << "case " << i << " round " << round;
      std::error_code ec;
      auto reader = box->open(i, ec);
      ASSERT_TRUE(reader);
      EXPECT_EQ(read_all(*reader, 4096), cases[i].first);
    }
    EXPECT_EQ(box->stats().sizes_from_index, round == 0 ? 0u : cases.size());
  }
}

TEST_F(MaildirTest, SizeHintsAreNotTrusted) {
  make_maildir(maildir());
  deliver("new/1.host,S=999,W=1000", "tiny\n");
  auto box = open_box();
  ASSERT_EQ(box->messages().size(), 1u);
  EXPECT_EQ(box->messages()[0].size, 6u);
  EXPECT_EQ(box->messages()[0].uidl, "1.host");
}

TEST_F(MaildirTest, UidlRules) {
  make_maildir(maildir());
  std::string longest(70, 'L');
  std::string too_long(71, 'T');
  deliver("new/" + longest + ",S=3", "x\n", 1);
  deliver("new/" + too_long, "x\n", 2);
  deliver("new/with space", "x\n", 3);
  deliver("new/caf\xc3\xa9,W=4", "x\n", 4);
  auto box = open_box();
  EXPECT_EQ(uidls(*box), (std::vector<std::string>{longest, detail::hash_uidl(too_long),
                                                   detail::hash_uidl("with space"),
                                                   detail::hash_uidl("caf\xc3\xa9,W=4")}));
  for (const auto& u : uidls(*box)) {
    EXPECT_GE(u.size(), 1u);
    EXPECT_LE(u.size(), 70u);
    for (char c : u) EXPECT_TRUE(c >= 0x21 && c <= 0x7E) << u;
  }
}

TEST_F(MaildirTest, UidlsCollidingByHintsAreMadeUnique) {
  make_maildir(maildir());
  deliver("cur/dup,S=5:2,S", "x\n", 1);
  deliver("new/dup,S=6", "xy\n", 2);
  auto box = open_box();
  EXPECT_EQ(uidls(*box), (std::vector<std::string>{"dup", "dup-2"}));
}

TEST_F(MaildirTest, UidlsSurviveIndexLossAndCopy) {
  make_maildir(maildir());
  for (int i = 0; i < 20; ++i) {
    deliver("new/17000000" + std::to_string(10 + i) + ".M" + std::to_string(i) + ".h,S=2", "x\n",
            1'700'000'000 + (i * 7) % 20);
  }
  deliver("cur/" + std::string(80, 'z') + ":2,S", "x\n", 5);
  std::vector<std::string> first = uidls(*open_box());
  ASSERT_EQ(first.size(), 21u);
  remove_index();
  EXPECT_EQ(uidls(*open_box()), first);

  // Copying the Maildir elsewhere (no index, fresh mtimes) keeps the UIDLs.
  std::string copy = tmp_ / "copy";
  std::filesystem::copy(maildir(), copy, std::filesystem::copy_options::recursive);
  std::filesystem::remove(copy + "/" + detail::index_file_name);
  std::error_code ec;
  auto copied = MaildirMailbox::load(copy, ec);
  ASSERT_TRUE(copied) << ec.message();
  auto a = first;
  auto b = uidls(*copied);
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  EXPECT_EQ(a, b);
}

TEST_F(MaildirTest, OrderWithoutIndexIsMtimeThenName) {
  make_maildir(maildir());
  deliver("new/c", "x\n", 100);
  deliver("cur/a:2,S", "x\n", 300);
  deliver("new/b", "x\n", 100);
  deliver("new/d", "x\n", 200);
  write_file(file("new/e"), "x\n");
  set_mtime(file("new/e"), 100, 5);  // nanoseconds count
  EXPECT_EQ(uidls(*open_box()), (std::vector<std::string>{"b", "c", "e", "d", "a"}));
}

TEST_F(MaildirTest, OrderIsStableAcrossSessions) {
  make_maildir(maildir());
  deliver("new/m1", "x\n", 500);
  deliver("new/m2", "x\n", 600);
  EXPECT_EQ(uidls(*open_box()), (std::vector<std::string>{"m1", "m2"}));
  // New mail with an older mtime still goes after the known messages, sorted
  // among themselves; an mtime change of a known one does not move it.
  deliver("new/m0", "x\n", 100);
  deliver("new/m00", "x\n", 50);
  set_mtime(file("new/m1"), 900);
  EXPECT_EQ(uidls(*open_box()), (std::vector<std::string>{"m1", "m2", "m00", "m0"}));
  // A flag change by another program (rename to cur/) keeps the position.
  std::filesystem::rename(file("new/m2"), file("cur/m2:2,RS"));
  EXPECT_EQ(uidls(*open_box()), (std::vector<std::string>{"m1", "m2", "m00", "m0"}));
}

TEST_F(MaildirTest, DuplicateBaseInNewAndCurCountsOnce) {
  make_maildir(maildir());
  deliver("new/1.dup", "stale copy in new\n", 1);
  deliver("cur/1.dup:2,S", "cur copy\n", 1);
  deliver("new/2.only", "x\n", 2);
  auto box = open_box();
  ASSERT_EQ(uidls(*box), (std::vector<std::string>{"1.dup", "2.only"}));
  EXPECT_EQ(box->messages()[0].size, 10u);
  std::error_code ec;
  auto reader = box->open(0, ec);
  ASSERT_TRUE(reader);
  EXPECT_EQ(read_all(*reader), "cur copy\n");
}

TEST_F(MaildirTest, IndexIsCreatedAndReused) {
  make_maildir(maildir());
  deliver("new/a", "hello\n", 10);
  deliver("new/b", "world\n", 20);
  {
    auto box = open_box();
    EXPECT_EQ(box->stats().index, Index::missing);
    EXPECT_EQ(box->stats().sizes_measured, 2u);
    EXPECT_TRUE(box->stats().index_written);
  }
  EXPECT_TRUE(test::exists(file(detail::index_file_name)));
  {
    auto box = open_box();
    EXPECT_EQ(box->stats().index, Index::loaded);
    EXPECT_EQ(box->stats().sizes_from_index, 2u);
    EXPECT_EQ(box->stats().sizes_measured, 0u);
    EXPECT_FALSE(box->stats().index_written);  // nothing changed: no write
  }
  // Proof the cached size is used: same size and mtime, different line ends.
  deliver("new/a", "hel\n\n\n", 10);
  {
    auto box = open_box();
    EXPECT_EQ(box->messages()[0].size, 7u);  // "hello\n" as stored before
    EXPECT_EQ(box->stats().sizes_from_index, 2u);
  }
  // A changed mtime makes it measure again.
  set_mtime(file("new/a"), 11);
  {
    auto box = open_box();
    EXPECT_EQ(box->messages()[0].size, 9u);
    EXPECT_EQ(box->stats().sizes_measured, 1u);
    EXPECT_EQ(box->stats().sizes_from_index, 1u);
    EXPECT_TRUE(box->stats().index_written);
  }
  // So does a changed size with the same mtime.
  deliver("new/b", "worlds\n", 20);
  {
    auto box = open_box();
    EXPECT_EQ(box->messages()[1].size, 8u);
    EXPECT_EQ(box->stats().sizes_measured, 1u);
  }
}

TEST_F(MaildirTest, IndexRebuiltWhenDeleted) {
  make_maildir(maildir());
  deliver("new/a", "x\n", 10);
  open_box();
  remove_index();
  auto box = open_box();
  EXPECT_EQ(box->stats().index, Index::missing);
  EXPECT_EQ(box->stats().sizes_measured, 1u);
  EXPECT_TRUE(box->stats().index_written);
  EXPECT_TRUE(test::exists(file(detail::index_file_name)));
}

TEST_F(MaildirTest, IndexRebuiltWhenCorrupt) {
  make_maildir(maildir());
  for (int i = 0; i < 5; ++i) deliver("new/m" + std::to_string(i), "x\n", 10 + i);
  const std::vector<std::string> expected = {"m0", "m1", "m2", "m3", "m4"};
  open_box();
  std::string good = read_file(file(detail::index_file_name));
  std::vector<std::string> garbage = {
      "",
      good.substr(0, good.size() / 2),
      good.substr(0, good.size() - 1),
      std::string(10000, '\xff'),
      "popbox-index 1\n2 10000000000 1 m0\nend 1 0000000000000000\n",
      "popbox-index 99\n" + good.substr(15),
  };
  std::string flipped = good;
  flipped[20] ^= 0x04;
  garbage.push_back(flipped);
  for (const auto& g : garbage) {
    write_file(file(detail::index_file_name), g);
    auto box = open_box();
    ASSERT_TRUE(box);
    EXPECT_EQ(box->stats().index, Index::invalid);
    EXPECT_EQ(box->stats().sizes_measured, 5u);
    EXPECT_EQ(uidls(*box), expected);
    for (const auto& m : box->messages()) EXPECT_EQ(m.size, 3u);
    EXPECT_EQ(read_file(file(detail::index_file_name)), good) << "rebuilt identically";
  }
  // An index that is a symlink refuses the mailbox; the target is untouched.
  std::filesystem::remove(file(detail::index_file_name));
  std::string target = read_file(file("new/m0"));
  std::filesystem::create_symlink(file("new/m0"), file(detail::index_file_name));
  std::error_code ec;
  EXPECT_FALSE(MaildirMailbox::load(maildir(), ec));
  EXPECT_EQ(ec, store_errc::unsafe_path);
  EXPECT_EQ(ec, std::errc::operation_not_permitted) << "a permanent failure for callers";
  EXPECT_EQ(read_file(file("new/m0")), target);
  EXPECT_TRUE(std::filesystem::is_symlink(file(detail::index_file_name)));
}

TEST_F(MaildirTest, IndexWithDuplicateEntriesIsRepaired) {
  make_maildir(maildir());
  deliver("new/a", "x\n", 10);
  deliver("new/b", "xy\n", 20);
  std::vector<detail::IndexEntry> entries = {
      {"b", 3, 20'000'000'000, 4}, {"a", 2, 10'000'000'000, 3}, {"b", 3, 20'000'000'000, 5}};
  write_file(file(detail::index_file_name), detail::format_index(entries));
  auto box = open_box();
  EXPECT_EQ(box->stats().index, Index::loaded);
  EXPECT_EQ(uidls(*box), (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(box->messages()[0].size, 4u);
  EXPECT_TRUE(box->stats().index_written);
  auto parsed = detail::parse_index(read_file(file(detail::index_file_name)));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->size(), 2u);
}

TEST_F(MaildirTest, IndexFollowsFilesChangedBehindOurBack) {
  make_maildir(maildir());
  deliver("new/a", "x\n", 10);
  deliver("new/b", "x\n", 20);
  deliver("new/c", "x\n", 30);
  open_box();
  std::filesystem::remove(file("new/b"));
  deliver("new/d", "xyz\n", 5);
  {
    auto box = open_box();
    EXPECT_EQ(uidls(*box), (std::vector<std::string>{"a", "c", "d"}));
    EXPECT_EQ(box->stats().index_entries_dropped, 1u);
    EXPECT_EQ(box->stats().sizes_from_index, 2u);
    EXPECT_EQ(box->stats().sizes_measured, 1u);
    EXPECT_EQ(box->messages()[2].size, 5u);
  }
  auto text = read_file(file(detail::index_file_name));
  auto parsed = detail::parse_index(text);
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->size(), 3u);
  EXPECT_EQ((*parsed)[0].base, "a");
  EXPECT_EQ((*parsed)[1].base, "c");
  EXPECT_EQ((*parsed)[2].base, "d");
}

TEST_F(MaildirTest, IndexWriteFailureIsNotFatal) {
  make_maildir(maildir());
  deliver("new/a", "x\n", 10);
  // A directory where the tmp file goes makes the write fail even as root
  // (chmod would not stop root).
  std::filesystem::create_directory(file(detail::index_tmp_name));
  auto box = open_box();
  ASSERT_TRUE(box);
  EXPECT_EQ(box->messages().size(), 1u);
  EXPECT_FALSE(box->stats().index_written);
  EXPECT_TRUE(box->stats().index_write_error);
  EXPECT_FALSE(test::exists(file(detail::index_file_name)));
}

TEST_F(MaildirTest, ReadOnlyMaildir) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  make_maildir(maildir());
  deliver("new/a", "x\n", 10);
  open_box();  // creates the lock file while writable
  remove_index();
  ::chmod(maildir().c_str(), 0500);
  auto box = open_box();
  ::chmod(maildir().c_str(), 0700);
  ASSERT_TRUE(box);
  EXPECT_EQ(box->messages().size(), 1u);
  EXPECT_TRUE(box->stats().index_write_error);
}

TEST_F(MaildirTest, UnreadableMessageFailsOpen) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores file permissions";
  make_maildir(maildir());
  deliver("new/a", "x\n", 10);
  ::chmod(file("new/a").c_str(), 0);
  std::error_code ec;
  EXPECT_FALSE(MaildirMailbox::load(maildir(), ec));
  EXPECT_EQ(ec, std::errc::permission_denied);
}

TEST_F(MaildirTest, ReadNowaitAndReadTakeTurnsWithoutLosingOrRepeatingBytes) {
  // The connection reads from the page cache on its event thread and falls
  // back to read() on the pool: both must go on where the other stopped.
  make_maildir(maildir());
  std::string content;
  for (int i = 0; content.size() < 300'000; ++i) content += "line " + std::to_string(i) + "\n";
  deliver("new/1.big", content, 1);
  auto box = open_box();
  ASSERT_EQ(box->messages().size(), 1u);
  std::error_code ec;
  auto reader = box->open(0, ec);
  ASSERT_TRUE(reader) << ec.message();
  std::string got;
  std::vector<char> buf(4099);
  std::size_t from_cache = 0;
  for (int turn = 0; turn < 10'000; ++turn) {
    std::size_t n = 0;
    std::optional<std::size_t> quick;
    if (turn % 3 != 2) quick = reader->read_nowait(buf, ec);
    ASSERT_FALSE(ec) << ec.message();
    if (quick) {
      n = *quick;
      from_cache += n;
    } else {
      n = reader->read(std::span<char>(buf).first(777 + turn % 5), ec);
      ASSERT_FALSE(ec) << ec.message();
    }
    if (n == 0) break;
    got.append(buf.data(), n);
  }
  EXPECT_EQ(got, content);
  // Just written, so in the page cache (unless the file system has no
  // RWF_NOWAIT, when everything comes from read()).
  std::cout << "bytes read without waiting: " << from_cache << "\n";
}

}  // namespace
}  // namespace popbox::store
