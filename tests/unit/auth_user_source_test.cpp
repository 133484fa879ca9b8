// The Authenticator on a UserSource other than the passwd-file: a source
// that goes down, any_password entries, the credential cache's reaction to
// refresh(), and the dummy work for unknown users.

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "auth/authenticator.hpp"
#include "auth/password_scheme.hpp"
#include "auth/scram.hpp"
#include "auth_fake_user_source.hpp"

namespace popbox::auth {
namespace {

using namespace std::chrono_literals;
using test::FakeUserSource;

const std::string rfc_timestamp = "<1896.697170952@dbc.mtview.ca.us>";
const std::string rfc_digest = "c4c9334bac560ecc979e58001b3e22fb";  // of "tanstaaf"

struct SourceTest : ::testing::Test {
  std::shared_ptr<FakeUserSource> src = std::make_shared<FakeUserSource>();
  SourceTest() {
    src->put("alice", "{PLAIN}secret");
    src->put("bob", "{PLAIN}tanstaaf");
    src->put("heidi", "");
  }
};

TEST_F(SourceTest, NullSourceIsRefused) {
  EXPECT_THROW(Authenticator(std::shared_ptr<UserSource>()), std::invalid_argument);
}

TEST_F(SourceTest, VerifiesAgainstTheSource) {
  Authenticator a(src);
  a.load();
  EXPECT_EQ(src->loads, 1);
  EXPECT_EQ(a.verify_password("alice", "secret"), AuthResult::ok);
  EXPECT_EQ(a.verify_password("alice", "wrong"), AuthResult::bad_credentials);
  EXPECT_EQ(a.verify_apop("bob", rfc_timestamp, rfc_digest), AuthResult::ok);
  std::error_code ec;
  auto info = a.lookup("alice", ec);
  ASSERT_TRUE(info);
  EXPECT_FALSE(ec);
  EXPECT_EQ(info->home, "/home/alice");
  EXPECT_FALSE(a.lookup("nobody", ec));
  EXPECT_FALSE(ec);  // no such user: a definite answer
}

TEST_F(SourceTest, ASourceThatIsDownIsATemporaryFailure) {
  Authenticator a(src, CredentialCacheOptions{5min, 100, 4});
  a.load();
  src->down = true;
  EXPECT_EQ(a.verify_password("alice", "secret"), AuthResult::temp_failure);
  EXPECT_EQ(a.verify_password("nobody", "x"), AuthResult::temp_failure);
  EXPECT_EQ(a.verify_apop("bob", rfc_timestamp, rfc_digest), AuthResult::temp_failure);
  EXPECT_EQ(a.scram_lookup("alice").result, AuthResult::temp_failure);
  std::error_code ec;
  EXPECT_FALSE(a.lookup("alice", ec));
  EXPECT_TRUE(ec);                                        // LMTP answers 451, not 550
  EXPECT_EQ(a.cached_login("alice", "secret"), nullptr);  // nothing was cached meanwhile
  EXPECT_TRUE(a.reload().has_value());
  src->down = false;
  EXPECT_EQ(a.verify_password("alice", "secret"), AuthResult::ok);
  EXPECT_EQ(a.scram_lookup("alice").result, AuthResult::ok);
}

TEST_F(SourceTest, LoadReportsTheSourcesMessage) {
  src->down = true;
  Authenticator a(src);
  try {
    a.load();
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("unreachable"), std::string::npos) << e.what();
  }
}

TEST_F(SourceTest, AnyPasswordEntriesTakeEveryPasswordButNotApopOrScram) {
  src->put("sandbox", "", /*any_password=*/true);
  src->put("stored", "{PLAIN}kept", /*any_password=*/true);
  Authenticator a(src, CredentialCacheOptions{5min, 100, 4});
  a.load();
  EXPECT_EQ(a.verify_password("sandbox", ""), AuthResult::ok);
  EXPECT_EQ(a.verify_password("sandbox", "whatever"), AuthResult::ok);
  EXPECT_EQ(a.verify_password("stored", "not-kept"), AuthResult::ok);
  EXPECT_NE(a.cached_login("sandbox", "whatever"), nullptr);  // the last one checked
  // APOP needs the clear-text password; SCRAM gets a made-up secret.
  EXPECT_EQ(a.verify_apop("sandbox", rfc_timestamp, rfc_digest), AuthResult::bad_credentials);
  const ScramLookup made_up = a.scram_lookup("sandbox");
  EXPECT_EQ(made_up.result, AuthResult::ok);
  const auto real = derive_scram_secret("kept", a.scram_lookup("stored").secret.salt,
                                        a.scram_lookup("stored").secret.iterations);
  ASSERT_TRUE(real);
  EXPECT_EQ(a.scram_lookup("stored").secret.stored_key, real->stored_key);
  // Without the flag the same entry is an ordinary one.
  src->put("sandbox", "", false);
  EXPECT_EQ(a.verify_password("sandbox", "whatever"), AuthResult::bad_credentials);
}

TEST_F(SourceTest, UnknownUsersAndUnusableEntriesCheckTheDummy) {
  Authenticator a(src);
  a.load();
  EXPECT_EQ(a.verify_password("nobody", "x"), AuthResult::bad_credentials);
  EXPECT_EQ(src->dummies, 1);
  EXPECT_EQ(a.verify_password("heidi", ""), AuthResult::bad_credentials);  // no password
  EXPECT_EQ(src->dummies, 2);
  src->put("grace", "{NO-SUCH-SCHEME}x");
  EXPECT_EQ(a.verify_password("grace", "x"), AuthResult::bad_credentials);
  EXPECT_EQ(src->dummies, 3);
  // A known user does not need it.
  EXPECT_EQ(a.verify_password("alice", "wrong"), AuthResult::bad_credentials);
  EXPECT_EQ(src->dummies, 3);
}

TEST_F(SourceTest, UnknownUserCostsTheSourcesDummy) {
  // The source's dummy is what an unknown name costs: as slow as the users'
  // Argon2id.
  src->put("u1", hash_password("pw1"));
  src->dummy = dummy_hash_like(hash_password("other"));
  Authenticator a(src);
  a.load();
  test::expect_unknown_costs_like_known(a, "u1", "nobody");
}

TEST_F(SourceTest, AChangedSourceEmptiesTheCacheWithinASecond) {
  Authenticator a(src, CredentialCacheOptions{5min, 100, 4});
  a.load();
  ASSERT_EQ(a.verify_password("alice", "secret"), AuthResult::ok);
  ASSERT_NE(a.cached_login("alice", "secret"), nullptr);
  const int before = src->refreshes;
  for (int i = 0; i < 20; ++i) (void)a.verify_password("bob", "tanstaaf");
  EXPECT_EQ(src->refreshes, before);  // just loaded: not asked again so soon
  // Unchanged: the look keeps the cache.
  std::this_thread::sleep_for(1100ms);
  ASSERT_TRUE(a.claim_recheck());
  a.recheck();
  EXPECT_EQ(src->refreshes, before + 1);
  EXPECT_NE(a.cached_login("alice", "secret"), nullptr);
  // Changed: the cache goes.
  src->put("alice", "{PLAIN}new");
  src->changed = true;
  std::this_thread::sleep_for(1100ms);
  EXPECT_EQ(a.verify_password("bob", "tanstaaf"), AuthResult::ok);  // asks the source
  EXPECT_EQ(a.cached_login("alice", "secret"), nullptr);
  EXPECT_EQ(a.verify_password("alice", "new"), AuthResult::ok);
}

TEST_F(SourceTest, ReloadEmptiesTheCacheEvenWhenItFails) {
  Authenticator a(src, CredentialCacheOptions{5min, 100, 4});
  a.load();
  ASSERT_EQ(a.verify_password("alice", "secret"), AuthResult::ok);
  src->down = true;
  EXPECT_TRUE(a.reload().has_value());
  EXPECT_EQ(a.cached_login("alice", "secret"), nullptr);
}

}  // namespace
}  // namespace popbox::auth
