// The Authenticator as the server uses it: verify, APOP, lookup, reloads,
// and many threads at once.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "auth/authenticator.hpp"
#include "auth/password_scheme.hpp"
#include "auth/scram_fake_secret.hpp"
#include "auth_fake_user_source.hpp"

namespace popbox::auth {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path sample = POPBOX_TEST_DATA "/auth/users.passwd";
const std::string rfc_timestamp = "<1896.697170952@dbc.mtview.ca.us>";
const std::string rfc_digest = "c4c9334bac560ecc979e58001b3e22fb";

/// lookup() for users the test knows are there or not (the source answers).
std::optional<UserInfo> lookup(Authenticator& a, std::string_view user) {
  std::error_code ec;
  auto info = a.lookup(user, ec);
  EXPECT_FALSE(ec) << ec.message();
  return info;
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "popbox-auth-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    file_ = dir_ / "users";
    fs::copy_file(sample, file_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// Replaces the file the way editors do: write aside, rename over.
  void replace_file(const std::string& text) {
    const fs::path tmp = dir_ / "users.tmp";
    std::ofstream(tmp) << text;
    fs::rename(tmp, file_);
  }

  static std::string read(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  fs::path dir_, file_;
};

TEST_F(AuthenticatorTest, VerifiesSampleUsers) {
  Authenticator a(file_);
  a.load();
  EXPECT_EQ(a.verify_password("alice", "secret"), AuthResult::ok);
  EXPECT_EQ(a.verify_password("alice", "Secret"), AuthResult::bad_credentials);
  EXPECT_EQ(a.verify_password("alice", ""), AuthResult::bad_credentials);
  EXPECT_EQ(a.verify_password("bob", "tanstaaf"), AuthResult::ok);
  EXPECT_EQ(a.verify_password("carol", "secret"), AuthResult::ok);
  EXPECT_EQ(a.verify_password("dave", "secret"), AuthResult::ok);  // bare $1$: CRYPT
  EXPECT_EQ(a.verify_password("judy", "secret"), AuthResult::ok);
  // Unknown scheme and empty password field: never.
  EXPECT_EQ(a.verify_password("grace", "secret"), AuthResult::bad_credentials);
  EXPECT_EQ(a.verify_password("heidi", ""), AuthResult::bad_credentials);
  // The duplicate's password is not the real one.
  EXPECT_EQ(a.verify_password("alice", "impostor"), AuthResult::bad_credentials);
  // Skipped lines do not define users.
  EXPECT_EQ(a.verify_password("erin", "secret"), AuthResult::bad_credentials);
  EXPECT_EQ(a.verify_password("", "nobody"), AuthResult::bad_credentials);
}

TEST_F(AuthenticatorTest, UnknownUserLooksLikeWrongPassword) {
  Authenticator a(file_);
  a.load();
  EXPECT_EQ(a.verify_password("mallory", "secret"), AuthResult::bad_credentials);
  EXPECT_EQ(a.verify_password("mallory", ""), AuthResult::bad_credentials);
  EXPECT_EQ(a.verify_password(std::string(10000, 'm'), "x"), AuthResult::bad_credentials);
  EXPECT_EQ(a.verify_apop("mallory", rfc_timestamp, rfc_digest), AuthResult::bad_credentials);
}

TEST_F(AuthenticatorTest, UnknownUserTakesAsLongAsAKnownOne) {
  // With only Argon2id users, a miss must cost an Argon2id hash too.
  replace_file("u1:" + hash_password("pw1") + "\nu2:" + hash_password("pw2") + "\n");
  Authenticator a(file_);
  a.load();
  test::expect_unknown_costs_like_known(a, "u1", "nobody");
}

TEST_F(AuthenticatorTest, MissingFile) {
  Authenticator a(dir_ / "missing");
  try {
    a.load();
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(a.reload().has_value());
  // Never loaded: the database is unavailable, which is not a wrong password.
  EXPECT_EQ(a.verify_password("alice", "secret"), AuthResult::temp_failure);
  EXPECT_EQ(a.verify_apop("bob", rfc_timestamp, rfc_digest), AuthResult::temp_failure);
  std::error_code ec;
  EXPECT_EQ(a.lookup("alice", ec), std::nullopt);
  EXPECT_TRUE(ec);  // "cannot tell", not "no such user"
}

TEST_F(AuthenticatorTest, LoadsLazilyOnFirstUse) {
  Authenticator a(file_);
  EXPECT_EQ(a.verify_password("alice", "secret"), AuthResult::ok);
}

TEST_F(AuthenticatorTest, ReloadPicksUpChanges) {
  Authenticator a(file_);
  a.load();
  replace_file("zoe:{PLAIN}new\n");
  EXPECT_EQ(a.reload(), std::nullopt);
  EXPECT_EQ(a.verify_password("zoe", "new"), AuthResult::ok);
  EXPECT_EQ(a.verify_password("alice", "secret"), AuthResult::bad_credentials);
}

TEST_F(AuthenticatorTest, FailedReloadKeepsUsers) {
  Authenticator a(file_);
  a.load();
  fs::remove(file_);
  const auto err = a.reload();
  ASSERT_TRUE(err.has_value());
  EXPECT_NE(err->find(file_.string()), std::string::npos) << *err;
  EXPECT_EQ(a.verify_password("alice", "secret"), AuthResult::ok);
  std::this_thread::sleep_for(1100ms);  // the automatic check must keep them too
  EXPECT_EQ(a.verify_password("alice", "secret"), AuthResult::ok);
}

TEST_F(AuthenticatorTest, NoticesEditsOnDisk) {
  Authenticator a(file_);
  a.load();
  EXPECT_EQ(a.verify_password("zoe", "new"), AuthResult::bad_credentials);
  replace_file(read(file_) + "zoe:{PLAIN}new:5:6::/home/zoe\n");
  std::this_thread::sleep_for(1100ms);
  EXPECT_EQ(a.verify_password("zoe", "new"), AuthResult::ok);
  EXPECT_EQ(lookup(a, "zoe")->uid, 5u);
  // An in-place edit (same inode) is noticed too.
  std::ofstream(file_, std::ios::app) << "yves:{PLAIN}y\n";
  std::this_thread::sleep_for(1100ms);
  EXPECT_TRUE(lookup(a, "yves").has_value());
}

TEST_F(AuthenticatorTest, Apop) {
  Authenticator a(file_);
  a.load();
  EXPECT_EQ(a.verify_apop("bob", rfc_timestamp, rfc_digest), AuthResult::ok);
  EXPECT_EQ(a.verify_apop("bob", rfc_timestamp, "C4C9334BAC560ECC979E58001B3E22FB"),
            AuthResult::ok);
  EXPECT_EQ(a.verify_apop("bob", "<other@host>", rfc_digest), AuthResult::bad_credentials);
  EXPECT_EQ(a.verify_apop("bob", rfc_timestamp, "nonsense"), AuthResult::bad_credentials);
  // alice's password is hashed: APOP cannot work for her.
  EXPECT_EQ(a.verify_apop("alice", rfc_timestamp, rfc_digest), AuthResult::bad_credentials);
}

TEST_F(AuthenticatorTest, Lookup) {
  Authenticator a(file_);
  a.load();
  const auto alice = lookup(a, "alice");
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->name, "alice");
  EXPECT_EQ(alice->uid, 1000u);
  EXPECT_EQ(alice->gid, 1000u);
  EXPECT_EQ(alice->home, "/home/alice");
  EXPECT_EQ(alice->extra, "userdb_quota_rule=*:storage=100M userdb_mail=maildir:~/Mail");
  // Users who cannot log in still exist for delivery.
  EXPECT_TRUE(lookup(a, "heidi").has_value());
  EXPECT_EQ(lookup(a, "nobody"), std::nullopt);
}

TEST_F(AuthenticatorTest, ManyThreadsVerifyWhileTheFileChanges) {
  Authenticator a(file_);
  a.load();
  const std::string original = read(file_);
  std::atomic<bool> stop{false};
  std::atomic<int> wrong_answers{0}, checks{0};
  std::vector<std::thread> threads;
  // Long enough for the once-a-second automatic check to fire mid-run.
  const auto deadline = std::chrono::steady_clock::now() + 1500ms;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
        const bool ok = (t % 3 == 0   ? a.verify_password("alice", "secret")
                         : t % 3 == 1 ? a.verify_password("bob", "tanstaaf")
                                      : a.verify_password("carol", "secret")) == AuthResult::ok;
        const bool bad =
            a.verify_password(i % 2 ? "nobody" : "bob", "nope") == AuthResult::bad_credentials;
        const bool apop = a.verify_apop("bob", rfc_timestamp, rfc_digest) == AuthResult::ok;
        const bool info = lookup(a, "carol").has_value();
        if (!ok || !bad || !apop || !info) ++wrong_answers;
        ++checks;
      }
    });
  }
  // Meanwhile the file keeps being replaced (each version has the same users).
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      replace_file(original + "# edit " + std::to_string(i) + "\nx" + std::to_string(i) +
                   ":{PLAIN}x\n");
      if (i % 3 == 0) {
        EXPECT_EQ(a.reload(), std::nullopt);
      }
      std::this_thread::sleep_for(5ms);
    }
  });
  for (auto& th : threads) th.join();
  stop = true;
  writer.join();
  EXPECT_GT(checks, 8);
  EXPECT_EQ(wrong_answers, 0);
}

TEST_F(AuthenticatorTest, MadeUpScramSaltsFollowThePersistentSecret) {
  // Two processes (here: two Authenticators) with the same secret give an
  // unknown user the same salt and keys, as a real user's stay the same.
  const std::string material(48, 'k');
  Authenticator a(file_), b(file_), c(file_), d(file_);
  for (Authenticator* x : {&a, &b, &c, &d}) x->load();
  a.set_scram_fake_secret(material);
  b.set_scram_fake_secret(material);
  c.set_scram_fake_secret(std::string(48, 'j'));
  const ScramLookup la = a.scram_lookup("nobody"), lb = b.scram_lookup("nobody");
  ASSERT_EQ(la.result, AuthResult::ok);
  EXPECT_EQ(la.secret.salt.size(), 16u);
  EXPECT_EQ(la.secret.salt, lb.secret.salt);
  EXPECT_EQ(la.secret.stored_key, lb.secret.stored_key);
  EXPECT_NE(la.secret.salt, a.scram_lookup("nobody2").secret.salt);
  EXPECT_NE(la.secret.salt, c.scram_lookup("nobody").secret.salt);
  EXPECT_NE(la.secret.salt, d.scram_lookup("nobody").secret.salt);  // per-process random
}

TEST_F(AuthenticatorTest, ScramFakeSecretSources) {
  EXPECT_FALSE(load_scram_fake_secret({}, {}));
  const fs::path secret = dir_ / "secret";
  std::ofstream(secret) << std::string(31, 'x');
  EXPECT_THROW(load_scram_fake_secret(secret, {}), std::runtime_error);  // too short
  std::ofstream(secret) << std::string(32, 'x');
  EXPECT_EQ(load_scram_fake_secret(secret, dir_ / "missing.pem"), std::string(32, 'x'));
  EXPECT_THROW(load_scram_fake_secret(dir_ / "missing", {}), std::runtime_error);
  EXPECT_THROW(load_scram_fake_secret({}, file_), std::runtime_error);  // not a key
  EXPECT_EQ(derive_scram_fake_key("a").size(), 32u);
  EXPECT_EQ(derive_scram_fake_key("a"), derive_scram_fake_key("a"));
  EXPECT_NE(derive_scram_fake_key("a"), derive_scram_fake_key("b"));
}

}  // namespace
}  // namespace popbox::auth
