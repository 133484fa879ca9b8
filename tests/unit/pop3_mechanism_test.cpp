#include <gtest/gtest.h>

#include <string>

#include "pop3/session.hpp"

using popbox::pop3::Mechanism;
using popbox::pop3::mechanism_name;
using popbox::pop3::Session;
using popbox::pop3::SessionOptions;
using popbox::pop3::Step;

namespace {

// The mechanism a fresh session reports after `lines`, and the last step.
std::pair<Mechanism, Step::Action> after(std::initializer_list<std::string_view> lines) {
  SessionOptions o;
  o.apop_enabled = true;
  o.apop_timestamp = "<1.2@pop.test>";
  o.oauth_enabled = true;
  Session s(o);
  std::string out;
  Step step;
  for (auto l : lines) step = s.on_line(l, out);
  return {s.mechanism(), step.action};
}

}  // namespace

TEST(Mechanism, EachLoginPathNamesItsMechanism) {
  using A = Step::Action;
  EXPECT_EQ(after({"USER alice", "PASS pw"}), std::pair(Mechanism::user, A::login));
  EXPECT_EQ(after({"APOP alice 0123456789abcdef0123456789abcdef"}),
            std::pair(Mechanism::apop, A::login));
  // "\0alice\0pw"
  EXPECT_EQ(after({"AUTH PLAIN AGFsaWNlAHB3"}), std::pair(Mechanism::plain, A::login));
  EXPECT_EQ(after({"auth login", "YWxpY2U=", "cHc="}), std::pair(Mechanism::login, A::login));
  // "n,,n=alice,r=abcdefgh"
  EXPECT_EQ(after({"AUTH SCRAM-SHA-256 biwsbj1hbGljZSxyPWFiY2RlZmdo"}),
            std::pair(Mechanism::scram_sha_256, A::scram));
  EXPECT_EQ(after({"AUTH XOAUTH2"}).first, Mechanism::xoauth2);
  EXPECT_EQ(after({"AUTH OAUTHBEARER"}).first, Mechanism::oauthbearer);
  // A plain login after a SASL one names the plain one.
  EXPECT_EQ(after({"AUTH LOGIN", "*", "USER alice", "PASS pw"}).first, Mechanism::user);
}

TEST(Mechanism, SaslSpellings) {
  EXPECT_EQ(mechanism_name(Mechanism::user), "USER");
  EXPECT_EQ(mechanism_name(Mechanism::apop), "APOP");
  EXPECT_EQ(mechanism_name(Mechanism::plain), "PLAIN");
  EXPECT_EQ(mechanism_name(Mechanism::login), "LOGIN");
  EXPECT_EQ(mechanism_name(Mechanism::scram_sha_256), "SCRAM-SHA-256");
  EXPECT_EQ(mechanism_name(Mechanism::scram_sha_256_plus), "SCRAM-SHA-256-PLUS");
  EXPECT_EQ(mechanism_name(Mechanism::oauthbearer), "OAUTHBEARER");
  EXPECT_EQ(mechanism_name(Mechanism::xoauth2), "XOAUTH2");
}
