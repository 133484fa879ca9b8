// The verified-credentials cache, driven by a hand-moved clock, and its use
// by the Authenticator (what a wrong password, an edit and a reload drop).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "auth/authenticator.hpp"
#include "auth/credential_cache.hpp"
#include "auth/password_scheme.hpp"
#include "temp_dir.hpp"

using popbox::auth::Authenticator;
using popbox::auth::AuthResult;
using popbox::auth::CredentialCache;
using popbox::auth::CredentialCacheOptions;
using popbox::auth::UserInfo;
using namespace std::chrono_literals;

namespace {

const CredentialCache::clock::time_point t0{};

CredentialCacheOptions options(std::size_t entries = 100, std::size_t shards = 1) {
  return CredentialCacheOptions{5min, entries, shards};
}

std::shared_ptr<const UserInfo> info(const std::string& name, unsigned uid = 1000) {
  return std::make_shared<const UserInfo>(UserInfo{name, uid, uid, "/home/" + name, ""});
}

}  // namespace

TEST(CredentialCache, SecondLoginWithTheSamePasswordIsAHit) {
  CredentialCache c(options());
  EXPECT_EQ(c.find("alice", "secret", t0), nullptr);  // nothing verified yet
  c.insert("alice", "secret", info("alice", 1234), c.generation(), t0);
  auto hit = c.find("alice", "secret", t0 + 1s);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->name, "alice");
  EXPECT_EQ(hit->uid, 1234u);  // what the login needs after the check
  EXPECT_EQ(hit->home, "/home/alice");
}

TEST(CredentialCache, OtherPasswordOrOtherUserIsAMiss) {
  CredentialCache c(options());
  c.insert("alice", "secret", info("alice"), c.generation(), t0);
  for (const char* pw : {"Secret", "secret ", "secre", "", "secretsecret"}) {
    EXPECT_EQ(c.find("alice", pw, t0), nullptr) << pw;
  }
  EXPECT_EQ(c.find("bob", "secret", t0), nullptr);
  EXPECT_EQ(c.find("Alice", "secret", t0), nullptr);  // names are canonical already
  // A miss does not drop the entry: only a failed full check does.
  EXPECT_NE(c.find("alice", "secret", t0), nullptr);
}

TEST(CredentialCache, UserAndSecretBytesCannotBeShiftedBetweenEachOther) {
  CredentialCache c(options());
  c.insert("ab", "c", info("ab"), c.generation(), t0);
  EXPECT_EQ(c.find("a", "bc", t0), nullptr);
  EXPECT_NE(*c.mac("ab", "c"), *c.mac("a", "bc"));
}

TEST(CredentialCache, EntryExpiresAfterTheTtlAndHitsDoNotExtendIt) {
  CredentialCache c(CredentialCacheOptions{10s, 100, 1});
  c.insert("alice", "secret", info("alice"), c.generation(), t0);
  EXPECT_NE(c.find("alice", "secret", t0 + 9s), nullptr);
  EXPECT_NE(c.find("alice", "secret", t0 + 9999ms), nullptr);
  EXPECT_EQ(c.find("alice", "secret", t0 + 10s), nullptr);
  EXPECT_EQ(c.size(), 0u);  // the expired entry is gone, not just skipped
  // A new full check starts a new TTL.
  c.insert("alice", "secret", info("alice"), c.generation(), t0 + 20s);
  EXPECT_NE(c.find("alice", "secret", t0 + 29s), nullptr);
  EXPECT_EQ(c.find("alice", "secret", t0 + 30s), nullptr);
}

TEST(CredentialCache, DropExpiredFreesEntriesNobodyAsksFor) {
  CredentialCache c(CredentialCacheOptions{10s, 100, 4});
  c.insert("old", "pw", info("old"), c.generation(), t0);
  c.insert("new", "pw", info("new"), c.generation(), t0 + 5s);
  ASSERT_NE(c.find("old", "pw", t0 + 6s),
            nullptr);  // most recently used now, still the oldest check
  c.drop_expired(t0 + 9s);
  EXPECT_EQ(c.size(), 2u);
  c.drop_expired(t0 + 12s);
  EXPECT_EQ(c.size(), 1u);
  EXPECT_NE(c.find("new", "pw", t0 + 12s), nullptr);
  // An insert into the same shard also clears what has expired there.
  CredentialCache one(CredentialCacheOptions{10s, 100, 1});
  one.insert("a", "pw", info("a"), one.generation(), t0);
  one.insert("b", "pw", info("b"), one.generation(), t0 + 10s);
  EXPECT_EQ(one.size(), 1u);
}

TEST(CredentialCache, LeastRecentlyUsedGoesBeyondTheSize) {
  CredentialCache c(options(3));
  c.insert("u1", "pw", info("u1"), c.generation(), t0);
  c.insert("u2", "pw", info("u2"), c.generation(), t0);
  c.insert("u3", "pw", info("u3"), c.generation(), t0);
  ASSERT_NE(c.find("u1", "pw", t0), nullptr);  // u1 used: u2 is now the oldest
  c.insert("u4", "pw", info("u4"), c.generation(), t0);
  EXPECT_EQ(c.size(), 3u);
  EXPECT_EQ(c.find("u2", "pw", t0), nullptr);
  EXPECT_NE(c.find("u1", "pw", t0), nullptr);
  EXPECT_NE(c.find("u3", "pw", t0), nullptr);
  EXPECT_NE(c.find("u4", "pw", t0), nullptr);
  // Inserting a user again replaces its entry, it does not add one.
  c.insert("u4", "pw2", info("u4"), c.generation(), t0);
  EXPECT_EQ(c.size(), 3u);
  EXPECT_EQ(c.find("u4", "pw", t0), nullptr);
  EXPECT_NE(c.find("u4", "pw2", t0), nullptr);
}

TEST(CredentialCache, ShardedTableNeverHoldsMoreThanTheSize) {
  for (std::size_t size : {1u, 5u, 63u, 64u, 65u, 1000u}) {
    CredentialCache c(CredentialCacheOptions{5min, size, 64});
    for (int i = 0; i < 5000; ++i) {
      c.insert("user" + std::to_string(i), "pw", info("u"), c.generation(), t0);
    }
    EXPECT_LE(c.size(), size) << size;
    EXPECT_GT(c.size(), 0u) << size;
  }
}

TEST(CredentialCache, DropUserForgetsOnlyThatUser) {
  CredentialCache c(options());
  c.insert("alice", "a", info("alice"), c.generation(), t0);
  c.insert("bob", "b", info("bob"), c.generation(), t0);
  c.drop_user("alice");
  EXPECT_EQ(c.find("alice", "a", t0), nullptr);
  EXPECT_NE(c.find("bob", "b", t0), nullptr);
  c.drop_user("nobody");  // harmless
  EXPECT_EQ(c.size(), 1u);
}

TEST(CredentialCache, DropAllForgetsEverythingAndRefusesChecksThatRacedWithIt) {
  CredentialCache c(options(100, 8));
  for (int i = 0; i < 20; ++i) {
    c.insert("u" + std::to_string(i), "pw", info("u"), c.generation(), t0);
  }
  // A check that started before the reload finishes after it: its answer
  // came from the old users and must not be remembered.
  const auto before = c.generation();
  c.drop_all();
  EXPECT_EQ(c.size(), 0u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(c.find("u" + std::to_string(i), "pw", t0), nullptr);
  c.insert("late", "pw", info("late"), before, t0);
  EXPECT_EQ(c.find("late", "pw", t0), nullptr);
  c.insert("fresh", "pw", info("fresh"), c.generation(), t0);
  EXPECT_NE(c.find("fresh", "pw", t0), nullptr);
}

TEST(CredentialCache, TheKeyNeverContainsTheSecret) {
  CredentialCache a(options()), b(options());
  const std::string secret = "correct horse battery staple, 32b";
  auto ma = a.mac("alice", secret);
  auto mb = b.mac("alice", secret);
  ASSERT_TRUE(ma && mb);
  const std::string bytes(ma->begin(), ma->end());
  EXPECT_EQ(bytes.size(), CredentialCache::mac_size);
  EXPECT_EQ(bytes.find(secret), std::string::npos);
  EXPECT_EQ(bytes.find("correct"), std::string::npos);
  for (std::size_t i = 0; i + 4 <= secret.size(); ++i) {
    EXPECT_EQ(bytes.find(secret.substr(i, 4)), std::string::npos) << i;
  }
  // Keyed: the same user and secret give another value in another cache
  // (process), and the same one in the same cache.
  EXPECT_NE(*ma, *mb);
  EXPECT_EQ(*ma, *a.mac("alice", secret));
  EXPECT_NE(*ma, *a.mac("alice", secret + "!"));
  EXPECT_NE(*ma, *a.mac("bob", secret));
}

TEST(CredentialCache, OffStoresNothing) {
  for (auto o : {CredentialCacheOptions{0ms, 100, 4}, CredentialCacheOptions{5min, 0, 4}}) {
    CredentialCache c(o);
    EXPECT_FALSE(c.enabled());
    c.insert("alice", "secret", info("alice"), c.generation(), t0);
    EXPECT_EQ(c.find("alice", "secret", t0), nullptr);
    EXPECT_EQ(c.size(), 0u);
  }
}

TEST(CredentialCache, ThreadsFindAndInsertAtOnce) {
  CredentialCache c(CredentialCacheOptions{5min, 500, 16});
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string user = "u" + std::to_string((i * 7 + t) % 800);
        const std::string pw = "pw-" + user;
        if (auto hit = c.find(user, pw, t0)) {
          if (hit->name != user) ++wrong;
        } else {
          c.insert(user, pw, info(user), c.generation(), t0);
        }
        if (c.find(user, "not-" + pw, t0)) ++wrong;
        if (i % 500 == 0) c.drop_user(user);
        if (t == 0 && i == 1000) c.drop_all();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(c.size(), 500u);
}

// ---- The Authenticator's use of the cache ---------------------------------

namespace {

struct Users {
  popbox::test::TempDir dir;
  std::string path = dir.path + "/users.passwd";

  void write(const std::string& text) { std::ofstream(path, std::ios::trunc) << text; }
};

}  // namespace

TEST(AuthenticatorCache, RightPasswordIsCachedWrongOneDropsTheUser) {
  Users u;
  u.write("alice:{PLAIN}secret:1001:1001::/home/alice::\nbob:{PLAIN}bobpw::::::\n");
  Authenticator auth(u.path, CredentialCacheOptions{5min, 100, 4});
  auth.load();
  EXPECT_EQ(auth.cached_login("alice", "secret"), nullptr);  // never checked yet
  EXPECT_EQ(auth.verify_password("alice", "secret"), AuthResult::ok);
  EXPECT_EQ(auth.verify_password("bob", "bobpw"), AuthResult::ok);
  auto hit = auth.cached_login("alice", "secret");
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->uid, 1001u);
  EXPECT_EQ(hit->home, "/home/alice");
  EXPECT_EQ(auth.cached_login("alice", "wrong"), nullptr);
  EXPECT_NE(auth.cached_login("alice", "secret"), nullptr);  // the miss changed nothing
  // A failed full check drops the user's entry, not others'.
  EXPECT_EQ(auth.verify_password("alice", "wrong"), AuthResult::bad_credentials);
  EXPECT_EQ(auth.cached_login("alice", "secret"), nullptr);
  EXPECT_NE(auth.cached_login("bob", "bobpw"), nullptr);
}

TEST(AuthenticatorCache, ReloadDropsEverythingEvenWhenItFails) {
  Users u;
  u.write("alice:{PLAIN}secret::::::\n");
  Authenticator auth(u.path, CredentialCacheOptions{5min, 100, 4});
  auth.load();
  ASSERT_EQ(auth.verify_password("alice", "secret"), AuthResult::ok);
  ASSERT_NE(auth.cached_login("alice", "secret"), nullptr);
  u.write("alice:{PLAIN}changed::::::\n");
  EXPECT_EQ(auth.reload(), std::nullopt);
  EXPECT_EQ(auth.cached_login("alice", "secret"), nullptr);
  EXPECT_EQ(auth.verify_password("alice", "secret"), AuthResult::bad_credentials);
  ASSERT_EQ(auth.verify_password("alice", "changed"), AuthResult::ok);
  ASSERT_NE(auth.cached_login("alice", "changed"), nullptr);
  std::filesystem::remove(u.path);
  EXPECT_NE(auth.reload(), std::nullopt);                     // unreadable: old users kept...
  EXPECT_EQ(auth.cached_login("alice", "changed"), nullptr);  // ...but not the cache
}

TEST(AuthenticatorCache, AnEditedFileIsNoticedWithinTheRecheckInterval) {
  Users u;
  u.write("alice:{PLAIN}secret::::::\n");
  Authenticator auth(u.path, CredentialCacheOptions{5min, 100, 4});
  auth.load();
  ASSERT_EQ(auth.verify_password("alice", "secret"), AuthResult::ok);
  EXPECT_FALSE(auth.claim_recheck());        // the file was read just now
  u.write("alice:{PLAIN}other-pw::::::\n");  // another size: a new file id
  // Within the second after the last look at the file the cache may still
  // answer, as the users in memory did before there was a cache. Then one
  // caller is asked to look at the file before it trusts the cache.
  EXPECT_NE(auth.cached_login("alice", "secret"), nullptr);
  std::this_thread::sleep_for(1100ms);
  EXPECT_TRUE(auth.claim_recheck());
  EXPECT_FALSE(auth.claim_recheck());  // one caller, not every one
  auth.recheck();
  EXPECT_EQ(auth.cached_login("alice", "secret"), nullptr);
  EXPECT_EQ(auth.verify_password("alice", "secret"), AuthResult::bad_credentials);
  EXPECT_EQ(auth.verify_password("alice", "other-pw"), AuthResult::ok);
  EXPECT_NE(auth.cached_login("alice", "other-pw"), nullptr);
  // Unchanged on disk: the look keeps the cache.
  std::this_thread::sleep_for(1100ms);
  EXPECT_TRUE(auth.claim_recheck());
  auth.recheck();
  EXPECT_NE(auth.cached_login("alice", "other-pw"), nullptr);
}

TEST(AuthenticatorCache, UnknownUserAndOffCacheNeverHit) {
  Users u;
  u.write("alice:{PLAIN}secret::::::\n");
  Authenticator off(u.path);  // the default: no cache
  off.load();
  EXPECT_FALSE(off.cache_enabled());
  ASSERT_EQ(off.verify_password("alice", "secret"), AuthResult::ok);
  EXPECT_EQ(off.cached_login("alice", "secret"), nullptr);
  Authenticator on(u.path, CredentialCacheOptions{5min, 100, 4});
  on.load();
  EXPECT_EQ(on.verify_password("nobody", "secret"), AuthResult::bad_credentials);
  EXPECT_EQ(on.cached_login("nobody", "secret"), nullptr);
}
