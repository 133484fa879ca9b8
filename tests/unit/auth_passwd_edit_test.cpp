// The passwd-file editor behind `popbox user`: text edits that touch only
// what they must, and file replacement that keeps mode, owner and atomicity.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>
#include <vector>

#include "auth/authenticator.hpp"
#include "auth/passwd_edit.hpp"
#include "auth/password_scheme.hpp"

namespace popbox::auth {
namespace {

namespace fs = std::filesystem;

EditErrc code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const PasswdEditError& e) {
    return e.code();
  }
  ADD_FAILURE() << "no PasswdEditError thrown";
  return EditErrc::io;
}

NewUser user(std::string name, std::string password = "{PLAIN}pw") {
  NewUser u;
  u.name = std::move(name);
  u.password = std::move(password);
  return u;
}

TEST(FormatLine, Fields) {
  EXPECT_EQ(format_line(user("a")), "a:{PLAIN}pw");
  NewUser u = user("a");
  u.uid = 10;
  EXPECT_EQ(format_line(u), "a:{PLAIN}pw:10");
  u.gid = 20;
  u.home = "/home/a";
  EXPECT_EQ(format_line(u), "a:{PLAIN}pw:10:20::/home/a");
  u.extra = "userdb_quota_rule=*:storage=1G";  // colons are fine in field 8
  EXPECT_EQ(format_line(u), "a:{PLAIN}pw:10:20::/home/a::userdb_quota_rule=*:storage=1G");
  NewUser v = user("b");
  v.extra = "k=v";
  EXPECT_EQ(format_line(v), "b:{PLAIN}pw::::::k=v");
}

TEST(FormatLine, RefusesWhatCannotBeReadBack) {
  for (const std::string& name : {std::string(), std::string("a:b"), std::string("a b"),
                                  std::string("#a"), std::string("a\nb"), std::string(256, 'x')}) {
    EXPECT_EQ(code_of([&] { format_line(user(name)); }), EditErrc::invalid) << name;
  }
  EXPECT_EQ(code_of([&] { format_line(user("a", "")); }), EditErrc::invalid);
  EXPECT_EQ(code_of([&] { format_line(user("a", "{PLAIN}p:w")); }), EditErrc::invalid);
  NewUser u = user("a");
  u.home = "/x:y";
  EXPECT_EQ(code_of([&] { format_line(u); }), EditErrc::invalid);
  u.home = "";
  u.extra = "a=b\nevil:{PLAIN}x";
  EXPECT_EQ(code_of([&] { format_line(u); }), EditErrc::invalid);
}

TEST(EditText, AddAppends) {
  EXPECT_EQ(add_user_text("", user("a")), "a:{PLAIN}pw\n");
  EXPECT_EQ(add_user_text("# c\nb:x", user("a")), "# c\nb:x\na:{PLAIN}pw\n");
  EXPECT_EQ(add_user_text("b:x\r\n", user("a")), "b:x\r\na:{PLAIN}pw\n");
  EXPECT_EQ(add_user_text("#a:x\n", user("a")), "#a:x\na:{PLAIN}pw\n");
}

TEST(EditText, AddRefusesAnExistingNameEvenOnABadLine) {
  EXPECT_EQ(code_of([] { add_user_text("a:x\n", user("a")); }), EditErrc::user_exists);
  EXPECT_EQ(code_of([] { add_user_text("a:x:notanumber\n", user("a")); }), EditErrc::user_exists);
  EXPECT_EQ(code_of([] { add_user_text("a\n", user("a")); }), EditErrc::user_exists);
}

TEST(EditText, SetPasswordChangesOnlyField2) {
  const std::string text =
      "# head\r\n"
      "a:{PLAIN}old:1:2:Gecos:/h:/s:x=y:z\r\n"
      "b:{PLAIN}keep\n"
      "c:\n"
      "d:{PLAIN}last";
  EXPECT_EQ(set_password_text(text, "a", "{X}new"),
            "# head\r\na:{X}new:1:2:Gecos:/h:/s:x=y:z\r\nb:{PLAIN}keep\nc:\nd:{PLAIN}last");
  EXPECT_EQ(set_password_text(text, "b", "{X}new"),
            "# head\r\na:{PLAIN}old:1:2:Gecos:/h:/s:x=y:z\r\nb:{X}new\nc:\nd:{PLAIN}last");
  EXPECT_EQ(
      set_password_text(text, "c", "{X}new"),
      "# head\r\na:{PLAIN}old:1:2:Gecos:/h:/s:x=y:z\r\nb:{PLAIN}keep\nc:{X}new\nd:{PLAIN}last");
  EXPECT_EQ(set_password_text(text, "d", "{X}new"),
            "# head\r\na:{PLAIN}old:1:2:Gecos:/h:/s:x=y:z\r\nb:{PLAIN}keep\nc:\nd:{X}new");
}

TEST(EditText, SetPasswordEditsTheLineTheServerUses) {
  // Line 1 is skipped by the reader (bad uid), line 3 is a shadowed duplicate.
  const std::string text = "a:{PLAIN}1:bad\na:{PLAIN}2\na:{PLAIN}3\n";
  EXPECT_EQ(set_password_text(text, "a", "{PLAIN}new"),
            "a:{PLAIN}1:bad\na:{PLAIN}new\na:{PLAIN}3\n");
  EXPECT_EQ(code_of([] { set_password_text("b:{PLAIN}1:bad\n", "b", "{PLAIN}x"); }),
            EditErrc::no_such_user);
  EXPECT_EQ(code_of([] { set_password_text("#a:x\n", "a", "{PLAIN}x"); }), EditErrc::no_such_user);
  EXPECT_EQ(code_of([] { set_password_text("a:x\n", "a", "bad:pw"); }), EditErrc::invalid);
}

TEST(EditText, DeleteRemovesEveryLineOfTheUser) {
  const std::string text = "# a\na:{PLAIN}1\nb:{PLAIN}2\r\na:{PLAIN}3:bad\nab:x\nc:y";
  EXPECT_EQ(delete_user_text(text, "a"), "# a\nb:{PLAIN}2\r\nab:x\nc:y");
  EXPECT_EQ(delete_user_text(text, "c"), "# a\na:{PLAIN}1\nb:{PLAIN}2\r\na:{PLAIN}3:bad\nab:x\n");
  EXPECT_EQ(code_of([&] { delete_user_text(text, "z"); }), EditErrc::no_such_user);
  EXPECT_EQ(code_of([&] { delete_user_text(text, ""); }), EditErrc::no_such_user);
}

class PasswdEditFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "popbox-edit-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    file_ = dir_ / "users";
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static void write(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
  }
  static struct stat stat_of(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return st;
  }
  /// Files in the directory other than the passwd-file and its lock.
  std::vector<std::string> strays() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string n = e.path().filename().string();
      if (n != "users" && n != "users.lock") out.push_back(n);
    }
    return out;
  }

  fs::path dir_, file_;
};

TEST_F(PasswdEditFile, AddCreatesAPrivateFile) {
  const mode_t old_mask = ::umask(0);  // 0600 must not depend on the umask
  add_user(file_, user("a"));
  ::umask(old_mask);
  EXPECT_EQ(read(file_), "a:{PLAIN}pw\n");
  EXPECT_EQ(stat_of(file_).st_mode & 07777, 0600u);
  EXPECT_TRUE(strays().empty());
}

TEST_F(PasswdEditFile, EditsKeepOtherBytesModeAndReplaceAtomically) {
  const std::string original =
      "# Managed by hand.\n\n  # indented comment\nb:{PLAIN}x:1:1::/h::k=v:w\r\nbroken line\n";
  write(file_, original);
  ASSERT_EQ(::chmod(file_.c_str(), 0640), 0);
  const ino_t before = stat_of(file_).st_ino;

  add_user(file_, user("a"));
  EXPECT_EQ(read(file_), original + "a:{PLAIN}pw\n");
  EXPECT_EQ(stat_of(file_).st_mode & 07777, 0640u);
  // A new inode: the old file was never modified in place.
  EXPECT_NE(stat_of(file_).st_ino, before);

  set_password(file_, "a", "{PLAIN}new");
  EXPECT_EQ(read(file_), original + "a:{PLAIN}new\n");
  delete_user(file_, "a");
  EXPECT_EQ(read(file_), original);
  EXPECT_EQ(stat_of(file_).st_mode & 07777, 0640u);
  EXPECT_TRUE(strays().empty());
}

TEST_F(PasswdEditFile, KeepsOwnerAndGroup) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to hand the file to another owner";
  write(file_, "b:{PLAIN}x\n");
  ASSERT_EQ(::chown(file_.c_str(), 1234, 5678), 0);
  ASSERT_EQ(::chmod(file_.c_str(), 02640), 0);  // set-gid survives, chown happens first
  add_user(file_, user("a"));
  const struct stat st = stat_of(file_);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_mode & 07777, 02640u);
}

TEST_F(PasswdEditFile, FailedEditsLeaveTheFileAlone) {
  write(file_, "b:{PLAIN}x\n");
  const ino_t before = stat_of(file_).st_ino;
  EXPECT_EQ(code_of([&] { add_user(file_, user("b")); }), EditErrc::user_exists);
  EXPECT_EQ(code_of([&] { set_password(file_, "z", "{PLAIN}y"); }), EditErrc::no_such_user);
  EXPECT_EQ(code_of([&] { delete_user(file_, "z"); }), EditErrc::no_such_user);
  EXPECT_EQ(code_of([&] { add_user(file_, user("bad name")); }), EditErrc::invalid);
  EXPECT_EQ(stat_of(file_).st_ino, before);
  EXPECT_EQ(read(file_), "b:{PLAIN}x\n");
  EXPECT_TRUE(strays().empty());
}

TEST_F(PasswdEditFile, MissingFile) {
  EXPECT_EQ(code_of([&] { set_password(file_, "a", "{PLAIN}x"); }), EditErrc::no_file);
  EXPECT_EQ(code_of([&] { delete_user(file_, "a"); }), EditErrc::no_file);
  EXPECT_EQ(code_of([&] { list_users(file_); }), EditErrc::no_file);
  EXPECT_FALSE(fs::exists(file_));
  EXPECT_EQ(code_of([&] { add_user(dir_ / "nodir" / "users", user("a")); }), EditErrc::io);
}

TEST_F(PasswdEditFile, MessagesNameTheFile) {
  write(file_, "b:{PLAIN}x\n");
  try {
    add_user(file_, user("b"));
    FAIL();
  } catch (const PasswdEditError& e) {
    EXPECT_EQ(std::string(e.what()), file_.string() + ": user b already exists");
  }
}

TEST_F(PasswdEditFile, EditsThroughASymlinkKeepTheLink) {
  write(file_, "b:{PLAIN}x\n");
  const fs::path link = dir_ / "link";
  fs::create_symlink("users", link);
  add_user(link, user("a"));
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(read(file_), "b:{PLAIN}x\na:{PLAIN}pw\n");
}

TEST_F(PasswdEditFile, ListUsers) {
  write(file_, "# c\nb:x\n:bad\na:y\nb:dup\n");
  std::vector<std::string> warnings;
  EXPECT_EQ(list_users(file_, &warnings), (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(warnings.size(), 2u);
  EXPECT_EQ(warnings[0], file_.string() + ":3: empty user name");
}

TEST_F(PasswdEditFile, ConcurrentEditorsLoseNothing) {
  write(file_, "# shared\n");
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) add_user(file_, user(fmt::format("u{}_{}", t, i)));
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(list_users(file_).size(), 60u);
  EXPECT_TRUE(read(file_).starts_with("# shared\n"));
  EXPECT_TRUE(strays().empty());
}

TEST_F(PasswdEditFile, ServerSeesThePasswordChange) {
  add_user(file_, user("a", hash_password("first")));
  Authenticator auth(file_);
  auth.load();
  EXPECT_EQ(auth.verify_password("a", "first"), AuthResult::ok);
  set_password(file_, "a", hash_password("second"));
  EXPECT_EQ(auth.reload(), std::nullopt);
  EXPECT_EQ(auth.verify_password("a", "first"), AuthResult::bad_credentials);
  EXPECT_EQ(auth.verify_password("a", "second"), AuthResult::ok);
}

}  // namespace
}  // namespace popbox::auth
