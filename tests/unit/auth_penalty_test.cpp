// The failed-login penalty table, driven by a hand-moved clock.
#include <gtest/gtest.h>

#include "auth/auth_penalty.hpp"

using popbox::auth::AuthPenalty;
using popbox::auth::AuthPenaltyOptions;
using namespace std::chrono_literals;

namespace {

AuthPenaltyOptions options() {
  AuthPenaltyOptions o;
  o.base_delay = 100ms;
  o.max_delay = 15s;
  o.max_failures_per_ip = 5;
  o.forget_after = 1h;
  o.block_time = 15min;
  o.max_ip_entries = 100;
  o.max_user_entries = 100;
  o.evict_batch = 10;
  return o;
}

const AuthPenalty::clock::time_point t0{};

}  // namespace

TEST(AuthPenalty, WaitDoublesPerFailureUpToTheCap) {
  AuthPenaltyOptions o = options();
  o.max_failures_per_ip = 1000;
  AuthPenalty p(o);
  std::vector<std::chrono::milliseconds> waits;
  for (int i = 0; i < 10; ++i) waits.push_back(p.failed("ip1", "alice", t0 + i * 1s));
  EXPECT_EQ(waits, (std::vector<std::chrono::milliseconds>{100ms, 200ms, 400ms, 800ms, 1600ms,
                                                           3200ms, 6400ms, 12800ms, 15s, 15s}));
}

TEST(AuthPenalty, CorrectPasswordAfterFailuresWaitsToo) {
  AuthPenalty p(options());
  EXPECT_EQ(p.succeeded("ip1", "alice", t0), 0ms);  // clean record: no wait
  p.failed("ip1", "x", t0);
  p.failed("ip1", "y", t0);
  p.failed("ip1", "z", t0);
  // Three failures from this IP, with other names: the right password of
  // a fourth user waits as long as the third failure did.
  EXPECT_EQ(p.succeeded("ip1", "alice", t0 + 1s), 400ms);
}

TEST(AuthPenalty, UnknownAndKnownUsersAreTreatedAlike) {
  // The table never learns whether a name exists: the same calls, the same waits.
  AuthPenalty a(options()), b(options());
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(a.failed("ip1", "alice", t0), b.failed("ip1", "nosuchuser", t0));
  }
}

TEST(AuthPenalty, AnotherIpIsNotSlowed) {
  AuthPenalty p(options());
  for (int i = 0; i < 4; ++i) p.failed("ip1", "alice", t0);
  EXPECT_EQ(p.succeeded("ip2", "bob", t0), 0ms);
  EXPECT_EQ(p.failed("ip2", "bob", t0), 100ms);
  EXPECT_FALSE(p.blocked("ip2", t0));
}

TEST(AuthPenalty, UserNameCountsAcrossIps) {
  AuthPenalty p(options());
  for (int i = 0; i < 3; ++i) p.failed("ip" + std::to_string(i), "alice", t0);
  // A fourth address guessing the same name starts at the name's count.
  EXPECT_EQ(p.failed("ip9", "alice", t0), 800ms);
  // The right password waits for its own address's failures only, so
  // guessing alice's password elsewhere cannot slow alice down; it clears
  // the name's count, not the addresses'.
  EXPECT_EQ(p.succeeded("ip7", "alice", t0), 0ms);
  EXPECT_EQ(p.succeeded("ip9", "alice", t0), 100ms);
  EXPECT_EQ(p.failed("ip8", "alice", t0), 100ms);
  EXPECT_EQ(p.succeeded("ip0", "carol", t0), 100ms);
}

TEST(AuthPenalty, BlocksAnIpAfterTooManyFailuresForAWhile) {
  AuthPenalty p(options());
  for (int i = 0; i < 4; ++i) p.failed("ip1", "u" + std::to_string(i), t0);
  EXPECT_FALSE(p.blocked("ip1", t0));
  p.failed("ip1", "u5", t0 + 10s);
  EXPECT_TRUE(p.blocked("ip1", t0 + 10s));
  EXPECT_TRUE(p.blocked("ip1", t0 + 10s + 14min));
  EXPECT_FALSE(p.blocked("ip2", t0 + 10s));
  EXPECT_FALSE(p.blocked("ip1", t0 + 10s + 15min));
  // After the block the count starts again.
  EXPECT_EQ(p.failed("ip1", "v", t0 + 16min), 100ms);  // the first failure again
}

TEST(AuthPenalty, ForgetsAfterAQuietHour) {
  AuthPenalty p(options());
  for (int i = 0; i < 3; ++i) p.failed("ip1", "alice", t0);
  EXPECT_EQ(p.succeeded("ip1", "bob", t0 + 59min), 400ms);
  EXPECT_EQ(p.succeeded("ip1", "bob", t0 + 60min), 0ms);
  EXPECT_EQ(p.failed("ip1", "alice", t0 + 61min), 100ms);
}

TEST(AuthPenalty, TableStaysBoundedAndEvictsTheOldest) {
  AuthPenalty p(options());  // 100 entries
  for (int i = 0; i < 1000; ++i) {
    p.failed("ip" + std::to_string(i), "same-user", t0 + i * 1ms);
    EXPECT_LE(p.ip_entries(), 100u);
    EXPECT_LE(p.size(), 101u);
  }
  // The newest addresses are still remembered, the oldest are gone.
  EXPECT_EQ(p.succeeded("ip999", "other", t0 + 1s), 100ms);
  EXPECT_EQ(p.succeeded("ip0", "other", t0 + 1s), 0ms);
}

TEST(AuthPenalty, UserNameChurnDoesNotEvictAddresses) {
  AuthPenaltyOptions o = options();
  o.max_failures_per_ip = 100000;
  AuthPenalty p(o);
  p.failed("victim-ip", "alice", t0);
  // One address sprays made-up user names: only the user table churns.
  for (int i = 0; i < 1000; ++i) {
    p.failed("sprayer", "name" + std::to_string(i), t0 + 1s + i * 1ms);
    EXPECT_LE(p.size(), 102u);
  }
  EXPECT_EQ(p.ip_entries(), 2u);
  EXPECT_EQ(p.succeeded("victim-ip", "alice", t0 + 2s), 100ms);
}

TEST(AuthPenalty, BlockedAddressesAreNeverEvicted) {
  AuthPenalty p(options());  // blocked after 5 failures
  for (int i = 0; i < 5; ++i) p.failed("attacker", "u", t0 + i * 1ms);
  ASSERT_TRUE(p.blocked("attacker", t0 + 1s));
  // A spray of newer addresses fills the table many times over.
  for (int i = 0; i < 1000; ++i) {
    p.failed("ip" + std::to_string(i), "u" + std::to_string(i), t0 + 1s + i * 1ms);
  }
  EXPECT_LE(p.ip_entries(), 100u);
  EXPECT_TRUE(p.blocked("attacker", t0 + 2s));
}

TEST(AuthPenalty, ATableOfBlockedAddressesStaysBounded) {
  AuthPenaltyOptions o = options();
  o.max_failures_per_ip = 1;  // every address is blocked by its first failure
  AuthPenalty p(o);
  for (int i = 0; i < 300; ++i) p.failed("ip" + std::to_string(i), "u", t0 + i * 1ms);
  EXPECT_EQ(p.ip_entries(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(p.blocked("ip" + std::to_string(i), t0 + 1s));
  EXPECT_FALSE(p.blocked("ip200", t0 + 1s));  // no room: not recorded
  // Once the blocks are over, new addresses get room again.
  p.failed("late", "u", t0 + 16min);
  EXPECT_TRUE(p.blocked("late", t0 + 16min));
  EXPECT_LE(p.ip_entries(), 100u);
}

TEST(AuthPenalty, AFullTableEvictsABatchAtOnce) {
  AuthPenaltyOptions o = options();
  o.max_failures_per_ip = 100000;
  AuthPenalty p(o);
  for (int i = 0; i < 100; ++i) p.failed("ip" + std::to_string(i), "u", t0 + i * 1ms);
  EXPECT_EQ(p.ip_entries(), 100u);
  p.failed("new", "u", t0 + 1s);
  // The 10 oldest went; the next 9 new addresses need no eviction.
  EXPECT_EQ(p.ip_entries(), 91u);
  EXPECT_EQ(p.succeeded("ip9", "x", t0 + 2s), 0ms);
  EXPECT_EQ(p.succeeded("ip10", "x", t0 + 2s), 100ms);
}
