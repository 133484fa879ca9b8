// pop3::Session: SASL OAUTHBEARER and XOAUTH2 (RFC 5034, RFC 7628).
#include <gtest/gtest.h>

#include "auth/oauth_sasl.hpp"
#include "core/base64.hpp"
#include "pop3/session.hpp"

using popbox::core::base64_encode;
using popbox::pop3::Credentials;
using popbox::pop3::LoginOutcome;
using popbox::pop3::Session;
using popbox::pop3::SessionOptions;
using popbox::pop3::Step;
using popbox::store::MessageInfo;
using Action = Step::Action;
using namespace std::string_literals;

namespace {

SessionOptions oauth_options(bool plaintext_allowed = true) {
  SessionOptions o;
  o.plaintext_allowed = plaintext_allowed;
  o.oauth_enabled = true;
  o.oauth_scope = "pop3";
  return o;
}

struct Harness {
  explicit Harness(SessionOptions opts = oauth_options()) : session(std::move(opts)) {}
  Step send(std::string_view line) {
    out.clear();
    return session.on_line(line, out);
  }
  Step done(LoginOutcome o) {
    out.clear();
    return session.login_done(o, &messages, out);
  }
  Session session;
  std::vector<MessageInfo> messages{{"uid-a", 10}};
  std::string out;
};

const std::string bearer = base64_encode(
    "n,a=alice@example.com,\x01"
    "auth=Bearer abc.def.ghi\x01\x01"s);
const std::string xoauth = base64_encode(
    "user=alice@example.com\x01"
    "auth=Bearer abc.def.ghi\x01\x01"s);
// {"status":"invalid_token","schemes":"bearer","scope":"pop3"}
const std::string challenge =
    "+ eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NoZW1lcyI6ImJlYXJlciIsInNjb3BlIjoicG9wMyJ9\r\n";

}  // namespace

TEST(Pop3Oauth, CapaListsMechanismsOnlyWhenConfiguredAndAllowed) {
  Harness on;
  on.send("CAPA");
  EXPECT_NE(on.out.find("SASL PLAIN LOGIN OAUTHBEARER XOAUTH2 SCRAM-SHA-256\r\n"),
            std::string::npos)
      << on.out;
  Harness off(SessionOptions{});
  off.send("CAPA");
  EXPECT_NE(off.out.find("SASL PLAIN LOGIN SCRAM-SHA-256\r\n"), std::string::npos);
  EXPECT_EQ(off.out.find("OAUTH"), std::string::npos);
  Harness plain(oauth_options(false));
  plain.send("CAPA");
  // Where plaintext is refused, only SCRAM (no password on the wire) stays.
  EXPECT_NE(plain.out.find("SASL SCRAM-SHA-256\r\n"), std::string::npos) << plain.out;
  EXPECT_EQ(plain.out.find("OAUTH"), std::string::npos);
  EXPECT_EQ(plain.send("AUTH OAUTHBEARER " + bearer).action, Action::none);
  EXPECT_EQ(plain.out.rfind("-ERR [AUTH] Plaintext authentication disallowed", 0), 0u);
  EXPECT_EQ(off.send("AUTH XOAUTH2 " + xoauth).action, Action::none);
  EXPECT_EQ(off.out, "-ERR Unsupported authentication mechanism.\r\n");
}

TEST(Pop3Oauth, OauthbearerInitialResponseAsksForLogin) {
  Harness h;
  Step step = h.send("AUTH OAUTHBEARER " + bearer);
  ASSERT_EQ(step.action, Action::login);
  EXPECT_EQ(step.credentials.kind, Credentials::Kind::oauth);
  EXPECT_EQ(step.credentials.user, "alice@example.com");
  EXPECT_EQ(step.credentials.secret, "abc.def.ghi");
  EXPECT_EQ(h.out, "");
  h.done(LoginOutcome::ok);
  EXPECT_EQ(h.out, "+OK Logged in, 1 messages (10 octets).\r\n");
  EXPECT_EQ(h.session.state(), Session::State::transaction);
}

TEST(Pop3Oauth, Xoauth2WithoutInitialResponse) {
  Harness h;
  EXPECT_EQ(h.send("auth xoauth2").action, Action::none);
  EXPECT_EQ(h.out, "+ \r\n");
  Step step = h.send(xoauth);
  ASSERT_EQ(step.action, Action::login);
  EXPECT_EQ(step.credentials.kind, Credentials::Kind::oauth);
  EXPECT_EQ(step.credentials.user, "alice@example.com");
}

TEST(Pop3Oauth, RefusalIsAChallengeThenErr) {
  Harness h;
  ASSERT_EQ(h.send("AUTH OAUTHBEARER " + bearer).action, Action::login);
  EXPECT_EQ(h.done(LoginOutcome::bad_credentials).action, Action::none);
  EXPECT_EQ(h.out, challenge);
  EXPECT_EQ(h.session.stats().auth_failures, 0u);
  EXPECT_EQ(h.send("AQ==").action, Action::none);  // base64 of ^A
  EXPECT_EQ(h.out, "-ERR [AUTH] Authentication failed.\r\n");
  EXPECT_EQ(h.session.stats().auth_failures, 1u);
  // XOAUTH2 the same way; the client's answer may be empty.
  ASSERT_EQ(h.send("AUTH XOAUTH2 " + xoauth).action, Action::login);
  h.done(LoginOutcome::bad_credentials);
  EXPECT_EQ(h.out, challenge);
  h.send("");
  EXPECT_EQ(h.out, "-ERR [AUTH] Authentication failed.\r\n");
  // Cancelling after the challenge still counts, and the third closes.
  ASSERT_EQ(h.send("AUTH OAUTHBEARER " + bearer).action, Action::login);
  h.done(LoginOutcome::bad_credentials);
  EXPECT_EQ(h.send("*").action, Action::close);
  EXPECT_EQ(h.out, "-ERR [AUTH] Authentication failed, too many attempts.\r\n");
}

TEST(Pop3Oauth, OtherOutcomesAnswerDirectly) {
  Harness h;
  ASSERT_EQ(h.send("AUTH OAUTHBEARER " + bearer).action, Action::login);
  h.done(LoginOutcome::in_use);
  EXPECT_EQ(h.out, "-ERR [IN-USE] The maildrop is locked by another POP3 session.\r\n");
  // A later password failure is not mistaken for an OAuth one.
  ASSERT_EQ(h.send("AUTH PLAIN " + base64_encode("\0alice\0pw"s)).action, Action::login);
  h.done(LoginOutcome::bad_credentials);
  EXPECT_EQ(h.out, "-ERR [AUTH] Authentication failed.\r\n");
}

TEST(Pop3Oauth, MalformedMessagesAreBadCommands) {
  Harness h;
  EXPECT_EQ(h.send("AUTH OAUTHBEARER " + base64_encode("n,,\x01"
                                                       "auth=Bearer t\x01\x01"s))
                .action,
            Action::none);
  EXPECT_EQ(h.out, "-ERR Invalid OAUTHBEARER response.\r\n");
  h.send("AUTH OAUTHBEARER =");
  EXPECT_EQ(h.out, "-ERR Invalid OAUTHBEARER response.\r\n");
  h.send("AUTH XOAUTH2 " + base64_encode("auth=Bearer t\x01\x01"s));
  EXPECT_EQ(h.out, "-ERR Invalid XOAUTH2 response.\r\n");
  h.send("AUTH XOAUTH2 not*base64");
  EXPECT_EQ(h.out, "-ERR Invalid base64 data.\r\n");
  EXPECT_EQ(h.session.stats().bad_commands, 4u);
  EXPECT_EQ(h.session.stats().auth_failures, 0u);
}
