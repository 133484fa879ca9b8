// The token store: mode 0600, atomic replacement, refusal of unsafe files.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "client/oauth_store.hpp"
#include "temp_dir.hpp"

using namespace popbox::client;
using namespace popbox::client::oauth;

namespace {
mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return st.st_mode & 07777;
}
std::size_t entries(const std::string& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}
}  // namespace

TEST(OAuthStore, MissingFileIsNoTokensNotAnError) {
  popbox::test::TempDir d;
  std::optional<StoredTokens> t;
  EXPECT_FALSE(load_tokens(d.path + "/a.oauth.json", t));
  EXPECT_FALSE(t);
}

TEST(OAuthStore, SaveLoadRoundTripWithMode0600EvenUnderAPermissiveUmask) {
  popbox::test::TempDir d;
  std::string path = d.path + "/a.oauth.json";
  mode_t old = ::umask(0);
  Failure f = save_tokens(path, {"refresh-1", "access-1", 1234});
  ::umask(old);
  ASSERT_FALSE(f) << f.message;
  EXPECT_EQ(mode_of(path), 0600u);
  std::optional<StoredTokens> t;
  ASSERT_FALSE(load_tokens(path, t));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->refresh_token, "refresh-1");
  EXPECT_EQ(t->access_token, "access-1");
  EXPECT_EQ(t->expires_at, 1234);
}

TEST(OAuthStore, ReplaceIsAtomicAndLeavesNoTemporaryFile) {
  popbox::test::TempDir d;
  std::string path = d.path + "/a.oauth.json";
  ASSERT_FALSE(save_tokens(path, {"r1", "a1", 1}));
  struct stat before {};
  ::stat(path.c_str(), &before);
  ASSERT_FALSE(save_tokens(path, {"r2", "a2", 2}));
  struct stat after {};
  ::stat(path.c_str(), &after);
  EXPECT_NE(before.st_ino, after.st_ino);  // a new file renamed over, never rewritten in place
  EXPECT_EQ(entries(d.path), 1u);
  std::optional<StoredTokens> t;
  ASSERT_FALSE(load_tokens(path, t));
  EXPECT_EQ(t->refresh_token, "r2");
}

TEST(OAuthStore, FailedSaveLeavesTheOldFile) {
  popbox::test::TempDir d;
  std::string path = d.path + "/a.oauth.json";
  ASSERT_FALSE(save_tokens(path, {"r1", "a1", 1}));
  // The destination is now a directory: rename fails, the tmp file goes.
  std::string other = d.path + "/b.oauth.json";
  std::filesystem::create_directory(other);
  std::ofstream(other + "/x") << "x";
  EXPECT_TRUE(save_tokens(other, {"r2", "a2", 2}));
  EXPECT_EQ(entries(d.path), 2u);
  std::optional<StoredTokens> t;
  ASSERT_FALSE(load_tokens(path, t));
  EXPECT_EQ(t->refresh_token, "r1");
}

TEST(OAuthStore, RefusesFilesOthersCanReadSymlinksAndGarbage) {
  popbox::test::TempDir d;
  std::string path = d.path + "/a.oauth.json";
  ASSERT_FALSE(save_tokens(path, {"r", "a", 1}));
  std::optional<StoredTokens> t;
  ::chmod(path.c_str(), 0644);
  Failure f = load_tokens(path, t);
  EXPECT_TRUE(f);
  EXPECT_NE(f.message.find("readable by others"), std::string::npos);
  EXPECT_FALSE(t);
  ::chmod(path.c_str(), 0600);
  std::string link = d.path + "/l.oauth.json";
  ASSERT_EQ(::symlink(path.c_str(), link.c_str()), 0);
  EXPECT_TRUE(load_tokens(link, t));
  for (const char* bad : {"", "[]", "{\"refresh_token\":5}", "{\"expires_at\":\"x\"}", "{"}) {
    std::string p = d.path + "/bad.json";
    std::filesystem::remove(p);
    std::ofstream(p) << bad;
    ::chmod(p.c_str(), 0600);
    EXPECT_TRUE(load_tokens(p, t)) << bad;
  }
}

TEST(OAuthStore, StampTellsWhetherTheFileWasReplacedSinceItWasLoaded) {
  popbox::test::TempDir d;
  std::string path = d.path + "/a.oauth.json";
  ASSERT_FALSE(save_tokens(path, {"r1", "a1", 1}));
  std::optional<StoredTokens> t;
  FileStamp stamp;
  ASSERT_FALSE(load_tokens(path, t, &stamp));
  EXPECT_TRUE(unchanged(path, stamp));
  // A login saves new tokens: the run's invalid_grant must not clear them.
  ASSERT_FALSE(save_tokens(path, {"r2", "a2", 2}));
  EXPECT_FALSE(unchanged(path, stamp));
  std::filesystem::remove(path);
  EXPECT_FALSE(unchanged(path, stamp));
}

TEST(OAuthStore, LockIsExclusiveBetweenHoldersAndFreedOnClose) {
  popbox::test::TempDir d;
  std::string path = d.path + "/a.oauth.json";
  popbox::store::detail::UniqueFd first;
  ASSERT_FALSE(lock_store(path, first));
  EXPECT_TRUE(std::filesystem::exists(d.path + "/a.oauth.lock"));
  // Another open file description cannot take it while the first holds it.
  popbox::store::detail::UniqueFd probe(::open((d.path + "/a.oauth.lock").c_str(), O_RDWR));
  ASSERT_TRUE(probe);
  EXPECT_NE(::flock(probe.get(), LOCK_EX | LOCK_NB), 0);
  first.reset(-1);
  EXPECT_EQ(::flock(probe.get(), LOCK_EX | LOCK_NB), 0);
}
