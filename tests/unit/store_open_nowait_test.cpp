// Mailbox::try_open_nowait, the event thread's open of a message: it gives a
// reader only when every lookup came from memory and all of open()'s checks
// hold, and leaves everything else (a moved file, a symlink, a replaced
// Maildir) to open() on the pool, which knows what to say about it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "store/maildir_mailbox.hpp"
#include "store_test_util.hpp"

namespace popbox::store {
namespace {

using test::TempDir;
using test::write_file;

class OpenNowaitTest : public ::testing::Test {
 protected:
  OpenNowaitTest() {
    test::make_maildir(dir());
    write_file(dir() + "/cur/1700000000.M1P1.test:2,S", "Subject: one\n\n.dot\nbody\n");
    write_file(dir() + "/new/1700000001.M2P1.test", "Subject: two\n\nbody two\n");
  }
  std::string dir() const { return tmp_ / "Maildir"; }
  std::unique_ptr<MaildirMailbox> open_box() {
    std::error_code ec;
    auto box = MaildirMailbox::load(dir(), ec);
    EXPECT_TRUE(box) << ec.message();
    return box;
  }
  // Puts the message's path into the dentry cache, as any earlier access does.
  void touch_lookup(const std::string& path) { ASSERT_EQ(::access(path.c_str(), R_OK), 0); }

  TempDir tmp_;
};

TEST_F(OpenNowaitTest, ReadsTheSameBytesAsOpen) {
  auto box = open_box();
  ASSERT_TRUE(box);
  ASSERT_EQ(box->messages().size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    std::error_code ec;
    auto pooled = box->open(i, ec);
    ASSERT_TRUE(pooled) << ec.message();
    const std::string want = test::read_all(*pooled);
    auto fast = box->try_open_nowait(i);  // the lookups are cached by now
    ASSERT_TRUE(fast) << "message " << i;
    EXPECT_EQ(test::read_all(*fast), want);
  }
}

TEST_F(OpenNowaitTest, AMovedMessageIsLeftToOpen) {
  auto box = open_box();
  ASSERT_TRUE(box);
  std::filesystem::rename(dir() + "/new/1700000001.M2P1.test",
                          dir() + "/cur/1700000001.M2P1.test:2,S");
  EXPECT_FALSE(box->try_open_nowait(1));
  std::error_code ec;
  auto reader = box->open(1, ec);  // follows the rename
  ASSERT_TRUE(reader) << ec.message();
  EXPECT_EQ(test::read_all(*reader), "Subject: two\n\nbody two\n");
}

TEST_F(OpenNowaitTest, NeverFollowsASymlinkBelowTheRoot) {
  auto box = open_box();
  ASSERT_TRUE(box);
  // cur/ swapped for a link to a directory holding a file of the same name.
  const std::string secret = tmp_ / "secret";
  std::filesystem::create_directory(secret);
  write_file(secret + "/1700000000.M1P1.test:2,S", "root only\n");
  std::filesystem::rename(dir() + "/cur", tmp_ / "cur-away");
  std::filesystem::create_directory_symlink(secret, dir() + "/cur");
  touch_lookup(dir() + "/cur/1700000000.M1P1.test:2,S");
  EXPECT_FALSE(box->try_open_nowait(0));
  std::error_code ec;
  EXPECT_FALSE(box->open(0, ec));
  EXPECT_EQ(ec, std::errc::operation_not_permitted) << ec.message();
}

TEST_F(OpenNowaitTest, AReplacedMaildirIsLeftToOpen) {
  auto box = open_box();
  ASSERT_TRUE(box);
  std::filesystem::rename(dir(), tmp_ / "old");
  test::make_maildir(dir());
  write_file(dir() + "/cur/1700000000.M1P1.test:2,S", "a stranger's\n");
  touch_lookup(dir() + "/cur/1700000000.M1P1.test:2,S");
  EXPECT_FALSE(box->try_open_nowait(0));
}

}  // namespace
}  // namespace popbox::store
