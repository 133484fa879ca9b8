// open_beneath and the Maildir code built on it: no symlink below a Maildir
// root is ever followed, with openat2 and with the per-component fallback.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "store/mailbox.hpp"
#include "store/maildir_layout.hpp"
#include "store/maildir_mailbox.hpp"
#include "store/maildir_writer.hpp"
#include "store/quota.hpp"
#include "store/safe_open.hpp"
#include "store_test_util.hpp"

namespace popbox::store::detail {
namespace {

namespace fs = std::filesystem;
using test::read_file;
using test::TempDir;
using test::write_file;

using Opener = std::error_code (*)(int, const char*, int, mode_t, UniqueFd&);

struct Case {
  const char* name;  // below the root
  int flags;
  bool ok;  // opened, else refused as unsafe_path
};

class OpenBeneath : public ::testing::TestWithParam<Opener> {
 protected:
  void SetUp() override {
    fs::create_directories(tmp_ / "root/dir/sub");
    fs::create_directories(tmp_ / "outside");
    write_file(tmp_ / "root/file", "inside");
    write_file(tmp_ / "root/dir/sub/deep", "deep");
    write_file(tmp_ / "outside/secret", "secret");
    fs::create_symlink(tmp_ / "outside", tmp_ / "root/dirlink");
    fs::create_symlink(tmp_ / "outside/secret", tmp_ / "root/filelink");
    fs::create_symlink("file", tmp_ / "root/relative-link");
    fs::create_symlink(tmp_ / "outside/new-file", tmp_ / "root/dangling");
    fs::create_symlink(tmp_ / "outside", tmp_ / "root/dir/sublink");
    root_.reset(::open((tmp_ / "root").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_);
  }

  TempDir tmp_;
  UniqueFd root_;
};

TEST_P(OpenBeneath, RefusesEverySymlinkAndEscape) {
  const Case cases[] = {
      {"file", O_RDONLY, true},
      {"dir", O_RDONLY | O_DIRECTORY, true},
      {"dir/sub/deep", O_RDONLY, true},
      {"./file", O_RDONLY, true},
      {"filelink", O_RDONLY, false},
      {"relative-link", O_RDONLY, false},  // even one pointing inside
      {"dirlink", O_RDONLY | O_DIRECTORY, false},
      {"dirlink/secret", O_RDONLY, false},
      {"dir/sublink/secret", O_RDONLY, false},
      {"dangling", O_WRONLY | O_CREAT, false},
      {"../outside/secret", O_RDONLY, false},
      {"dir/../../outside/secret", O_RDONLY, false},
  };
  for (const auto& c : cases) {
    UniqueFd fd;
    auto ec = GetParam()(root_.get(), c.name, c.flags, 0600, fd);
    if (c.ok) {
      EXPECT_FALSE(ec) << c.name << ": " << ec.message();
      EXPECT_TRUE(fd) << c.name;
    } else {
      EXPECT_EQ(ec, store_errc::unsafe_path) << c.name << ": " << ec.message();
      EXPECT_FALSE(fd) << c.name;
    }
  }
  EXPECT_FALSE(fs::exists(tmp_ / "outside/new-file")) << "nothing created behind a link";
  UniqueFd abs;
  EXPECT_EQ(GetParam()(root_.get(), (tmp_ / "outside/secret").c_str(), O_RDONLY, 0, abs),
            store_errc::unsafe_path);
}

TEST_P(OpenBeneath, ReportsOtherErrorsAsErrno) {
  UniqueFd fd;
  EXPECT_EQ(GetParam()(root_.get(), "missing", O_RDONLY, 0, fd),
            std::errc::no_such_file_or_directory);
  EXPECT_EQ(GetParam()(root_.get(), "file", O_RDONLY | O_DIRECTORY, 0, fd),
            std::errc::not_a_directory);
  ASSERT_FALSE(GetParam()(root_.get(), "created", O_WRONLY | O_CREAT | O_EXCL, 0600, fd));
  EXPECT_TRUE(fs::is_regular_file(tmp_ / "root/created"));
  EXPECT_EQ(GetParam()(root_.get(), "created", O_WRONLY | O_CREAT | O_EXCL, 0600, fd),
            std::errc::file_exists);
}

TEST_P(OpenBeneath, DescriptorIsCloseOnExec) {
  UniqueFd fd;
  ASSERT_FALSE(GetParam()(root_.get(), "file", O_RDONLY, 0, fd));
  EXPECT_TRUE(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC);
}

INSTANTIATE_TEST_SUITE_P(Openers, OpenBeneath,
                         ::testing::Values(&open_beneath, &open_beneath_fallback),
                         [](const auto& info) { return info.index == 0 ? "openat2" : "fallback"; });

// A Maildir whose user swapped a directory or a popbox file for a symlink
// to a directory the user must not reach.
class UnsafeMaildir : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    md_ = tmp_ / "u/Maildir";
    test::make_maildir(md_);
    write_file(md_ + "/new/m1", "mine\n");
    fs::create_directories(tmp_ / "secret/new");
    fs::create_directories(tmp_ / "secret/cur");
    fs::create_directories(tmp_ / "secret/tmp");
    write_file(tmp_ / "secret/s1", "root only\n");
    write_file(tmp_ / "secret/new/s2", "root only\n");
  }
  // Replaces entry `name` of the Maildir by a symlink into the secret dir.
  void link(const std::string& name) {
    fs::remove_all(md_ + "/" + name);
    fs::create_symlink(tmp_ / "secret", md_ + "/" + name);
  }
  std::size_t secret_count() {
    std::size_t n = 0;
    for (auto it = fs::recursive_directory_iterator(tmp_ / "secret");
         it != fs::recursive_directory_iterator(); ++it) {
      ++n;
    }
    return n;
  }

  TempDir tmp_;
  std::string md_;
};

TEST_P(UnsafeMaildir, MailboxIsRefusedAndTargetUntouched) {
  link(GetParam());
  std::size_t before = secret_count();
  std::error_code ec;
  EXPECT_FALSE(MaildirMailbox::load(md_, ec));
  EXPECT_EQ(ec, store_errc::unsafe_path) << ec.message();
  MaildirWriter writer(md_, ec);
  std::string dir = GetParam();
  if (dir == "new" || dir == "cur" || dir == "tmp") {
    EXPECT_EQ(ec, store_errc::unsafe_path) << ec.message();
    QuotaUsage usage;
    EXPECT_EQ(maildir_usage(md_, usage), store_errc::unsafe_path);
  }
  EXPECT_EQ(secret_count(), before);
  EXPECT_EQ(read_file(tmp_ / "secret/s1"), "root only\n");
  EXPECT_EQ(read_file(tmp_ / "secret/new/s2"), "root only\n");
}

INSTANTIATE_TEST_SUITE_P(Entries, UnsafeMaildir,
                         ::testing::Values("new", "cur", "tmp", "popbox.lock", "popbox-index",
                                           "popbox-uidls"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) {
                             if (c == '.' || c == '-') c = '_';
                           }
                           return n;
                         });

TEST(MaildirRoot, SymlinkedRootIsAllowed) {
  TempDir tmp;
  test::make_maildir(tmp / "real/Maildir");
  write_file(tmp / "real/Maildir/new/m1", "hello\n");
  fs::create_symlink(tmp / "real", tmp / "mail");
  std::error_code ec;
  auto box = MaildirMailbox::load(tmp / "mail/Maildir", ec);
  ASSERT_TRUE(box) << ec.message();
  EXPECT_EQ(box->messages().size(), 1u);
  box.reset();
  MaildirWriter writer(tmp / "mail/Maildir", ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_FALSE(writer.write("x\n"));
  std::string name;
  ASSERT_FALSE(writer.commit(&name));
  EXPECT_EQ(read_file(tmp / "real/Maildir/new/" + name), "x\n");
}

}  // namespace
}  // namespace popbox::store::detail
