// The warm open: popbox-snapshot trusted while new/, cur/ and popbox-uidls
// are unchanged and were not dirty; every change behind our back is seen
// by the next login exactly as a listing would see it.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "store/maildir_mailbox.hpp"
#include "store/maildir_name.hpp"
#include "store/maildir_snapshot.hpp"
#include "store/uidl_record.hpp"
#include "store_test_util.hpp"

namespace popbox::store {
namespace {

using test::set_mtime;
using test::TempDir;
using test::write_file;

long now_sec() {
  return static_cast<long>(std::time(nullptr));
}

class WarmTest : public ::testing::Test {
 protected:
  WarmTest() { test::make_maildir(dir()); }

  std::string dir() const { return tmp_ / "Maildir"; }
  std::string file(std::string_view rel) const { return dir() + "/" + std::string(rel); }
  void deliver(std::string_view rel, std::string_view body, long mtime) {
    write_file(file(rel), body);
    set_mtime(file(rel), mtime);
  }
  // new/ and cur/ last changed long before any scan: not dirty.
  void age_dirs() {
    set_mtime(file("new"), now_sec() - 100);
    set_mtime(file("cur"), now_sec() - 100);
  }
  std::unique_ptr<MaildirMailbox> open_box(MaildirOptions options = {}) {
    std::error_code ec;
    auto box = MaildirMailbox::load(dir(), ec, options);
    EXPECT_TRUE(box) << ec.message();
    return box;
  }
  // Opens until a login is warm (first closes adoption, second writes the
  // snapshot); returns what the last listing showed.
  std::vector<MessageInfo> warm_up() {
    std::vector<MessageInfo> listed;
    for (int i = 0; i < 4; ++i) {
      auto box = open_box();
      if (!box) return {};
      if (!box->stats().listed) return listed;
      listed = box->messages();
    }
    ADD_FAILURE() << "never warm";
    return listed;
  }
  static std::vector<std::string> uidls(const Mailbox& box) {
    std::vector<std::string> out;
    for (const auto& m : box.messages()) out.push_back(m.uidl + "/" + std::to_string(m.size));
    return out;
  }
  void deliver_two() {
    deliver("new/1.first,S=4", "one\n", 10);
    deliver("cur/2.second:2,S", "two\nlines\n", 20);
    age_dirs();
  }

  TempDir tmp_;
};

TEST_F(WarmTest, WarmOpenShowsWhatTheListingShowed) {
  deliver_two();
  auto listed = warm_up();
  ASSERT_EQ(listed.size(), 2u);
  auto box = open_box();
  EXPECT_FALSE(box->stats().listed);
  EXPECT_FALSE(box->stats().snapshot_written);
  ASSERT_EQ(box->messages().size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(box->messages()[i].uidl, listed[i].uidl);
    EXPECT_EQ(box->messages()[i].size, listed[i].size);
  }
  EXPECT_EQ(box->messages()[0].uidl, "1.first");
  EXPECT_EQ(box->messages()[1].size, 12u);
  std::error_code ec;
  auto reader = box->open(1, ec);
  ASSERT_TRUE(reader) << ec.message();
  EXPECT_EQ(test::read_all(*reader), "two\nlines\n");
}

TEST_F(WarmTest, NewDeliveryIsSeen) {
  deliver_two();
  warm_up();
  deliver("new/3.third", "three\n", 30);
  auto box = open_box();
  EXPECT_TRUE(box->stats().listed);
  EXPECT_EQ(uidls(*box), (std::vector<std::string>{"1.first/5", "2.second/12", "3.third/7"}));
}

TEST_F(WarmTest, MoveToCurIsSeenAndFollowed) {
  deliver_two();
  warm_up();
  std::filesystem::rename(file("new/1.first,S=4"), file("cur/1.first,S=4:2,S"));
  auto box = open_box();
  EXPECT_TRUE(box->stats().listed);
  EXPECT_EQ(uidls(*box), (std::vector<std::string>{"1.first/5", "2.second/12"}));
  std::error_code ec;
  auto reader = box->open(0, ec);
  ASSERT_TRUE(reader) << ec.message();
  EXPECT_EQ(test::read_all(*reader), "one\n");
}

TEST_F(WarmTest, FlagRenameByAnotherClientIsSeen) {
  deliver_two();
  warm_up();
  std::filesystem::rename(file("cur/2.second:2,S"), file("cur/2.second:2,FS"));
  auto box = open_box();
  EXPECT_TRUE(box->stats().listed);
  std::error_code ec;
  auto reader = box->open(1, ec);
  ASSERT_TRUE(reader) << ec.message();
  EXPECT_EQ(test::read_all(*reader), "two\nlines\n");
}

TEST_F(WarmTest, RenameDuringWarmSessionIsFollowed) {
  deliver_two();
  warm_up();
  auto box = open_box();
  ASSERT_FALSE(box->stats().listed);
  std::filesystem::rename(file("cur/2.second:2,S"), file("cur/2.second:2,RS"));
  std::error_code ec;
  auto reader = box->open(1, ec);
  ASSERT_TRUE(reader) << ec.message();
  EXPECT_EQ(test::read_all(*reader), "two\nlines\n");
}

TEST_F(WarmTest, DeletionBehindOurBackIsSeen) {
  deliver_two();
  warm_up();
  std::filesystem::remove(file("new/1.first,S=4"));
  auto box = open_box();
  EXPECT_TRUE(box->stats().listed);
  EXPECT_EQ(uidls(*box), (std::vector<std::string>{"2.second/12"}));
}

TEST_F(WarmTest, CommitOfWarmSessionIsSeen) {
  deliver_two();
  warm_up();
  {
    auto box = open_box();
    ASSERT_FALSE(box->stats().listed);
    ASSERT_FALSE(box->commit(std::vector<std::size_t>{1}, std::vector<std::size_t>{0}));
  }
  EXPECT_FALSE(test::exists(file("cur/2.second:2,S")));
  EXPECT_TRUE(test::exists(file("cur/1.first,S=4:2,S")));
  auto box = open_box();
  EXPECT_TRUE(box->stats().listed);
  EXPECT_EQ(uidls(*box), (std::vector<std::string>{"1.first/5"}));
}

TEST_F(WarmTest, ChangeWithinTheSameTimestampIsSeen) {
  deliver_two();
  warm_up();
  // A delivery now: new/'s mtime is within the sync window of the next scan,
  // so that scan is dirty and writes no snapshot it could trust later.
  deliver("new/3.third", "three\n", 30);
  struct stat st {};
  ASSERT_EQ(::stat(file("new").c_str(), &st), 0);
  {
    auto box = open_box();
    EXPECT_TRUE(box->stats().listed);
    EXPECT_FALSE(box->stats().snapshot_written);
    EXPECT_EQ(box->messages().size(), 3u);
  }
  // Changes within the same timestamp: new/'s mtime (and its size, as
  // many entries as before) stay equal.
  std::filesystem::remove(file("new/3.third"));
  deliver("new/4.fourth", "four\n", 40);
  struct timespec same[2] = {st.st_mtim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, file("new").c_str(), same, 0), 0);
  auto box = open_box();
  EXPECT_TRUE(box->stats().listed);
  EXPECT_EQ(uidls(*box), (std::vector<std::string>{"1.first/5", "2.second/12", "4.fourth/6"}));
}

TEST_F(WarmTest, CleanStampsAreTrustedWithoutListing) {
  // The converse, to show the warm path really does not list: a file slipped
  // in with the directory's old mtime restored is not seen while the
  // snapshot was clean (Maildir writers always change the mtime).
  deliver_two();
  warm_up();
  struct stat st {};
  ASSERT_EQ(::stat(file("new").c_str(), &st), 0);
  std::filesystem::remove(file("new/1.first,S=4"));
  deliver("new/3.hidden", "x\n", 30);
  struct timespec same[2] = {st.st_mtim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, file("new").c_str(), same, 0), 0);
  auto box = open_box();
  EXPECT_FALSE(box->stats().listed);
  EXPECT_EQ(box->messages().size(), 2u);
}

TEST_F(WarmTest, UidlRecordChangeForcesListing) {
  deliver_two();
  warm_up();
  std::ofstream(file(detail::uidls_file_name), std::ios::app) << "";
  {
    std::ofstream out(file(detail::uidls_file_name), std::ios::app);
    out << "1.first renamed-elsewhere\n";
  }
  auto box = open_box();
  EXPECT_TRUE(box->stats().listed);
}

TEST_F(WarmTest, BrokenOrSymlinkedSnapshotMeansListing) {
  deliver_two();
  warm_up();
  std::string good = test::read_file(file(detail::snapshot_file_name));
  write_file(file(detail::snapshot_file_name), good.substr(0, good.size() - 3) + "00\n");
  EXPECT_TRUE(open_box()->stats().listed);
  std::filesystem::remove(file(detail::snapshot_file_name));
  write_file(tmp_ / "evil", good);
  std::filesystem::create_symlink(tmp_ / "evil", file(detail::snapshot_file_name));
  auto box = open_box();
  EXPECT_TRUE(box->stats().listed);
  EXPECT_EQ(box->messages().size(), 2u);
}

TEST_F(WarmTest, ReportsAlwaysList) {
  deliver_two();
  warm_up();
  MaildirOptions options;
  options.mode = MaildirOptions::Mode::dry_run;
  EXPECT_TRUE(open_box(options)->stats().listed);
}

// ---- the snapshot format --------------------------------------------------

detail::Snapshot sample() {
  detail::Snapshot s;
  s.stamps.scan_ns = 1'700'000'000'000'000'000;
  s.stamps.new_dir = {1'600'000'000'000'000'001, 12, 4096};
  s.stamps.cur_dir = {1'600'000'000'000'000'002, 13, 8192};
  s.stamps.uidls = {1'600'000'000'000'000'003, 14, 77};
  auto add = [&](std::string name, detail::Subdir dir, std::uint64_t size, std::uint64_t crlf,
                 std::string uidl) {
    detail::SnapshotEntry e;
    e.file.base_len = detail::base_of(name).size();
    e.file.name = std::move(name);
    e.file.dir = dir;
    e.file.file_size = size;
    e.file.mtime_ns = 5;
    e.crlf_size = crlf;
    e.uidl = std::move(uidl);
    s.entries.push_back(std::move(e));
  };
  add("1700000000.M1P2.host,S=10:2,S", detail::Subdir::cur_dir, 10, 12, "1700000000.M1P2.host");
  add("with space%", detail::Subdir::new_dir, 0, 0, "adopted-%-uidl");
  add("plain", detail::Subdir::new_dir, 3, 5, "plain");
  return s;
}

std::string forge(const std::string& body, std::size_t count) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(body.data(), body.size(), d, &len, EVP_sha256(), nullptr);
  char hex[17];
  for (int i = 0; i < 8; ++i) std::snprintf(hex + 2 * i, 3, "%02x", d[i]);
  return body + "end " + std::to_string(count) + " " + hex + "\n";
}

TEST(Snapshot, RoundTrip) {
  auto s = sample();
  std::string text = detail::format_snapshot(s);
  EXPECT_NE(text.find("c 10 5 12 1700000000.M1P2.host,S=10:2,S %\n"), std::string::npos) << text;
  EXPECT_NE(text.find("n 0 5 0 with%20space%25 adopted-%25-uidl\n"), std::string::npos) << text;
  auto parsed = detail::parse_snapshot(text);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->stamps, s.stamps);
  ASSERT_EQ(parsed->entries.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(parsed->entries[i].file.name, s.entries[i].file.name);
    EXPECT_EQ(parsed->entries[i].file.base(), s.entries[i].file.base());
    EXPECT_EQ(parsed->entries[i].file.dir, s.entries[i].file.dir);
    EXPECT_EQ(parsed->entries[i].crlf_size, s.entries[i].crlf_size);
    EXPECT_EQ(parsed->entries[i].uidl, s.entries[i].uidl);
  }
  EXPECT_EQ(detail::format_snapshot(*parsed), text);
}

TEST(Snapshot, RefusesEveryTruncationAndAnyChangedByte) {
  std::string text = detail::format_snapshot(sample());
  for (std::size_t len = 0; len < text.size(); ++len) {
    EXPECT_FALSE(detail::parse_snapshot(text.substr(0, len))) << len;
  }
  for (std::size_t i = 0; i + 1 < text.size(); i += 7) {
    std::string bad = text;
    bad[i] ^= 1;
    EXPECT_FALSE(detail::parse_snapshot(bad)) << i;
  }
}

TEST(Snapshot, RefusesBadLinesEvenWithValidChecksum) {
  const std::string head = "popbox-snapshot 1\nstamps 9 1 2 3 4 5 6 7 8 9\n";
  EXPECT_TRUE(detail::parse_snapshot(forge(head + "n 3 7 4 abc %\n", 1)));
  EXPECT_TRUE(detail::parse_snapshot(forge(head, 0)));
  for (const char* line : {
           "x 3 7 4 abc %\n",   // no such subdirectory
           "n 3 7 2 abc %\n",   // RETR size below the file size
           "n 3 7 9 abc %\n",   // above 2 * size + 2
           "n 3 7 4 .hid %\n",  // dotfile
           "n 3 7 4 a/b %\n",   // slash
           "n 3 7 4 :2,S %\n",  // empty base
           "n 3 7 4 abc\n",     // no UIDL field
           "n 3 7 4 abc \n",    // empty UIDL
           "n 3 7 4 abc a b\n",
           "n 3 7 4 abc %41\n",  // needless escape
           "n -3 7 4 abc %\n",
           "n 3 7 4 abc "
           "0123456789012345678901234567890123456789012345678901234567890123456789X\n",
       }) {
    EXPECT_FALSE(detail::parse_snapshot(forge(head + line, 1))) << line;
  }
  EXPECT_FALSE(detail::parse_snapshot(forge(head + "n 3 7 4 abc %\n", 2)));
  EXPECT_FALSE(detail::parse_snapshot(forge("popbox-snapshot 1\nstamps 1 2\n", 0)));
  EXPECT_FALSE(detail::parse_snapshot(forge("popbox-snapshot 2\nstamps 9 1 2 3 4 5 6 7 8 9\n", 0)));
}

TEST(Snapshot, DirtyRule) {
  detail::SnapshotStamps s;
  s.scan_ns = 10'000'000'000;
  s.new_dir.mtime_ns = 8'000'000'000;
  s.cur_dir.mtime_ns = 8'999'999'999;
  EXPECT_FALSE(s.dirty(1'000'000'000));
  s.cur_dir.mtime_ns = 9'000'000'001;
  EXPECT_TRUE(s.dirty(1'000'000'000));
  s.cur_dir.mtime_ns = 11'000'000'000;  // in the future of the scan
  EXPECT_TRUE(s.dirty(1'000'000'000));
}

}  // namespace
}  // namespace popbox::store
