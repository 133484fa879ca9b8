#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "store/maildir_writer.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using popbox::store::MaildirWriter;

namespace {

using popbox::test::TempDir;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(MaildirWriter, CommitMakesTheMessageAppearWholeInNew) {
  TempDir dir;
  std::string md = dir.path + "/a/b/Maildir";
  std::error_code ec;
  std::string name;
  {
    MaildirWriter w(md, ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_FALSE(w.write("Subject: x\n\n"));
    ASSERT_FALSE(w.write("body\n"));
    // Nothing is visible before commit.
    EXPECT_TRUE(fs::is_empty(md + "/new"));
    ASSERT_FALSE(w.commit(&name));
  }
  EXPECT_EQ(slurp(md + "/new/" + name), "Subject: x\n\nbody\n");
  EXPECT_TRUE(name.ends_with(",S=17")) << name;
  EXPECT_TRUE(fs::is_empty(md + "/tmp"));
  EXPECT_TRUE(fs::is_directory(md + "/cur"));
}

TEST(MaildirWriter, AbandonedMessageLeavesNothingBehind) {
  TempDir dir;
  std::error_code ec;
  {
    MaildirWriter w(dir.path, ec);
    ASSERT_FALSE(ec);
    ASSERT_FALSE(w.write("partial"));
  }
  EXPECT_TRUE(fs::is_empty(dir.path + "/tmp"));
  EXPECT_TRUE(fs::is_empty(dir.path + "/new"));
}

TEST(MaildirWriter, NamesAreUnique) {
  TempDir dir;
  std::set<std::string> names;
  for (int i = 0; i < 200; ++i) {
    std::error_code ec;
    MaildirWriter w(dir.path, ec);
    ASSERT_FALSE(ec);
    std::string name;
    ASSERT_FALSE(w.commit(&name));
    EXPECT_TRUE(names.insert(name).second);
  }
}

TEST(MaildirWriter, UnwritableMaildirReportsError) {
  std::error_code ec;
  MaildirWriter w("/proc/popbox-no-such-dir/Maildir", ec);
  EXPECT_TRUE(ec);
}
