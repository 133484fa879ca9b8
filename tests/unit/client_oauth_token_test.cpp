// OAuth2 pure parts: PKCE, token and device JSON, the device poll state
// machine, the refresh decision.
#include <gtest/gtest.h>

#include <string>

#include "client/oauth_http.hpp"
#include "client/oauth_token.hpp"
#include "core/limits.hpp"

using namespace popbox::client::oauth;
namespace limits = popbox::client::limits;

TEST(OAuthPkce, Rfc7636AppendixBVector) {
  EXPECT_EQ(code_challenge_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

TEST(OAuthPkce, VerifierIs43UnreservedCharactersAndRandom) {
  std::string a = make_code_verifier(), b = make_code_verifier();
  EXPECT_EQ(a.size(), 43u);
  EXPECT_NE(a, b);
  EXPECT_EQ(
      a.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"),
      std::string::npos);
  EXPECT_NE(make_state(), make_state());
}

TEST(OAuthTokenReply, Success) {
  auto r = parse_token_reply(R"({"access_token":"a.b.c","token_type":"Bearer","expires_in":3599,)"
                             R"("refresh_token":"r-1","scope":"x"})");
  ASSERT_TRUE(r.ok) << r.error_description;
  EXPECT_EQ(r.access_token, "a.b.c");
  EXPECT_EQ(r.refresh_token, "r-1");
  EXPECT_EQ(r.expires_in, 3599);
  // expires_in as a string (some providers), no refresh token, bearer in lower case.
  r = parse_token_reply(R"({"access_token":"t","token_type":"bearer","expires_in":"60"})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.expires_in, 60);
  EXPECT_EQ(r.refresh_token, "");
}

TEST(OAuthTokenReply, ProviderErrors) {
  auto r = parse_token_reply(R"({"error":"invalid_grant","error_description":"revoked"})");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "invalid_grant");
  EXPECT_EQ(describe_error(r), "invalid_grant (revoked)");
  r = parse_token_reply(R"({"error":"authorization_pending"})");
  EXPECT_EQ(r.error, "authorization_pending");
}

TEST(OAuthTokenReply, HostileInputIsInvalidNeverAThrow) {
  const char* cases[] = {
      "",
      "null",
      "[]",
      "\"x\"",
      "{",
      R"({"access_token":""})",
      R"({"access_token":5})",
      R"({"access_token":"t","expires_in":-1})",
      R"({"access_token":"t","expires_in":-1.5})",
      R"({"access_token":"t","expires_in":"12a"})",
      R"({"access_token":"t","token_type":"mac"})",
      R"({"access_token":"a\r\nDELE 1"})",
      R"({"access_token":"t","refresh_token":"r\u0000"})",
      R"({"access_token":"t","refresh_token":7})",
      R"({"error":5})",
      R"({"error":"x\ny"})",
  };
  for (const char* c : cases) {
    auto r = parse_token_reply(c);
    EXPECT_FALSE(r.ok) << c;
    EXPECT_EQ(r.error, "invalid_response") << c;
  }
  std::string huge =
      R"({"access_token":")" + std::string(limits::oauth_max_response, 'a') + R"("})";
  EXPECT_EQ(parse_token_reply(huge).error, "invalid_response");
  std::string deep(100000, '[');
  EXPECT_EQ(parse_token_reply(deep).error, "invalid_response");
}

TEST(OAuthTokenReply, EveryTruncationIsInvalid) {
  const std::string full =
      R"({"access_token":"abc","token_type":"Bearer","expires_in":60,"refresh_token":"r"})";
  ASSERT_TRUE(parse_token_reply(full).ok);
  for (std::size_t i = 0; i < full.size(); ++i) {
    EXPECT_FALSE(parse_token_reply(full.substr(0, i)).ok) << i;
  }
}

TEST(OAuthTokenReply, ErrorDescriptionIsMadePrintableAndBounded) {
  TokenReply r;
  r.error = "server_error";
  r.error_description = std::string(1000, 'x') + "\x1b[2J";
  std::string d = describe_error(r);
  EXPECT_LE(d.size(), 300u);
  EXPECT_EQ(d.find('\x1b'), std::string::npos);
}

TEST(OAuthDevice, ParsesTheAnswer) {
  std::string why;
  auto d = parse_device_authorization(
      R"({"device_code":"dc","user_code":"ABCD-EFGH","verification_uri":"https://x/dev",)"
      R"("verification_uri_complete":"https://x/dev?c=1","expires_in":900,"interval":5})",
      why);
  ASSERT_TRUE(d) << why;
  EXPECT_EQ(d->user_code, "ABCD-EFGH");
  EXPECT_EQ(d->verification_uri_complete, "https://x/dev?c=1");
  EXPECT_EQ(d->interval, 5);
  // Google's older "verification_url"; no interval: the RFC's 5 s.
  d = parse_device_authorization(
      R"({"device_code":"dc","user_code":"U","verification_url":"https://g/device",)"
      R"("expires_in":1800})",
      why);
  ASSERT_TRUE(d) << why;
  EXPECT_EQ(d->verification_uri, "https://g/device");
  EXPECT_EQ(d->interval, limits::oauth_device_interval.count());
  for (const char* bad :
       {"{}", R"({"device_code":"d","user_code":"u"})",
        R"({"device_code":"d","user_code":"u\n","verification_uri":"https://x"})",
        R"({"device_code":"d","user_code":"u","verification_uri":"javascript:x"})",
        R"({"error":"invalid_client"})", "nope"}) {
    EXPECT_FALSE(parse_device_authorization(bad, why)) << bad;
  }
}

namespace {
TokenReply error_reply(const char* e) {
  TokenReply r;
  r.error = e;
  return r;
}
DeviceAuthorization device(std::int64_t interval, std::int64_t expires) {
  DeviceAuthorization d;
  d.device_code = "d";
  d.interval = interval;
  d.expires_in = expires;
  return d;
}
}  // namespace

TEST(OAuthDevicePoll, PendingWaitsSlowDownAddsFiveSeconds) {
  DevicePoll p(device(5, 600), 1000);
  EXPECT_EQ(p.interval(), 5);
  EXPECT_EQ(p.on_reply(error_reply("authorization_pending"), 1005), DevicePoll::Step::wait);
  EXPECT_EQ(p.interval(), 5);
  EXPECT_EQ(p.on_reply(error_reply("slow_down"), 1010), DevicePoll::Step::wait);
  EXPECT_EQ(p.interval(), 10);
  EXPECT_EQ(p.on_reply(error_reply("slow_down"), 1020), DevicePoll::Step::wait);
  EXPECT_EQ(p.interval(), 15);
  TokenReply ok;
  ok.ok = true;
  EXPECT_EQ(p.on_reply(ok, 1035), DevicePoll::Step::done);
}

TEST(OAuthDevicePoll, ExpiredDeniedAndOtherErrorsEndIt) {
  {
    DevicePoll p(device(5, 600), 0);
    EXPECT_EQ(p.on_reply(error_reply("expired_token"), 5), DevicePoll::Step::failed);
    EXPECT_NE(p.message().find("expired"), std::string::npos);
  }
  {
    DevicePoll p(device(5, 600), 0);
    EXPECT_EQ(p.on_reply(error_reply("access_denied"), 5), DevicePoll::Step::failed);
    EXPECT_NE(p.message().find("denied"), std::string::npos);
  }
  {
    DevicePoll p(device(5, 600), 0);
    EXPECT_EQ(p.on_reply(error_reply("invalid_client"), 5), DevicePoll::Step::failed);
    EXPECT_NE(p.message().find("invalid_client"), std::string::npos);
  }
  {
    // Pending past the code's lifetime: the client stops by itself.
    DevicePoll p(device(5, 12), 0);
    EXPECT_EQ(p.on_reply(error_reply("authorization_pending"), 5), DevicePoll::Step::wait);
    EXPECT_EQ(p.on_reply(error_reply("authorization_pending"), 10), DevicePoll::Step::failed);
  }
}

TEST(OAuthDevicePoll, HostileIntervalsAreClamped) {
  DevicePoll p(device(1'000'000'000, 1'000'000'000), 0);
  EXPECT_EQ(p.interval(), limits::oauth_device_max_wait.count());
  DevicePoll q(device(-3, 600), 0);
  EXPECT_EQ(q.interval(), limits::oauth_device_interval.count());
}

TEST(OAuthExpiry, RefreshWithinTheMargin) {
  StoredTokens t{"r", "a", 1000};
  const std::int64_t margin = limits::oauth_refresh_margin.count();
  EXPECT_FALSE(needs_refresh(t, 1000 - margin - 1));
  EXPECT_FALSE(needs_refresh(t, 1000 - margin));
  EXPECT_TRUE(needs_refresh(t, 1000 - margin + 1));
  EXPECT_TRUE(needs_refresh(t, 2000));
  t.access_token.clear();
  EXPECT_TRUE(needs_refresh(t, 0));
  StoredTokens unknown{"r", "a", 0};
  EXPECT_TRUE(needs_refresh(unknown, 0));
  StoredTokens only_access{"", "a", 0};
  EXPECT_FALSE(needs_refresh(only_access, 0));
}

TEST(OAuthExpiry, ApplyReplyKeepsTheRefreshTokenUnlessRotated) {
  StoredTokens t{"r1", "a1", 5};
  TokenReply r;
  r.ok = true;
  r.access_token = "a2";
  r.expires_in = 3600;
  apply_reply(t, r, 100);
  EXPECT_EQ(t.refresh_token, "r1");
  EXPECT_EQ(t.access_token, "a2");
  EXPECT_EQ(t.expires_at, 3700);
  r.refresh_token = "r2";
  apply_reply(t, r, 100);
  EXPECT_EQ(t.refresh_token, "r2");
}

TEST(OAuthHttp, FormEncodingRoundTrips) {
  Form f{{"redirect_uri", "http://127.0.0.1:5/"}, {"scope", "a b&c=d"}, {"x", ""}};
  std::string s = form_encode(f);
  EXPECT_EQ(s, "redirect_uri=http%3A%2F%2F127.0.0.1%3A5%2F&scope=a%20b%26c%3Dd&x=");
  EXPECT_EQ(parse_query(s), f);
  EXPECT_EQ(parse_query("a=1&&b&c=x+y&=z"), (Form{{"a", "1"}, {"c", "x y"}, {"", "z"}}));
}

TEST(OAuthDevicePoll, TransientErrorsDoubleTheIntervalUntilTheDeadline) {
  // RFC 8628 3.5: a timeout doubles the interval; polling goes on.
  DevicePoll p(device(5, 100), 0);
  EXPECT_EQ(p.on_transient_error(5), DevicePoll::Step::wait);
  EXPECT_EQ(p.interval(), 10);
  EXPECT_EQ(p.on_reply(error_reply("authorization_pending"), 15), DevicePoll::Step::wait);
  EXPECT_EQ(p.interval(), 10);  // a normal answer keeps the doubled interval
  EXPECT_EQ(p.on_transient_error(25), DevicePoll::Step::wait);
  EXPECT_EQ(p.interval(), 20);
  TokenReply ok;
  ok.ok = true;
  EXPECT_EQ(p.on_reply(ok, 45), DevicePoll::Step::done);
  // Past the deadline it stops; doubling is bounded by the longest wait.
  DevicePoll q(device(5, 100), 0);
  EXPECT_EQ(q.on_transient_error(95), DevicePoll::Step::failed);
  EXPECT_NE(q.message().find("expired"), std::string::npos);
  DevicePoll r(device(1000, 1'000'000), 0);
  for (int i = 0; i < 20; ++i) r.on_transient_error(0);
  EXPECT_EQ(r.interval(), limits::oauth_device_max_wait.count());
}

TEST(OAuthTokenReply, NullMembersAreAbsentAndFractionalExpiryIsFloored) {
  TokenReply r = parse_token_reply(
      R"({"access_token":"abc","token_type":"Bearer","expires_in":3599.9,"refresh_token":null,)"
      R"("error":null,"scope":null})");
  ASSERT_TRUE(r.ok) << r.error_description;
  EXPECT_EQ(r.expires_in, 3599);
  EXPECT_EQ(r.refresh_token, "");
  r = parse_token_reply(R"({"access_token":"abc","token_type":null,"expires_in":null})");
  ASSERT_TRUE(r.ok) << r.error_description;
  EXPECT_EQ(r.expires_in, 0);
  for (const char* bad :
       {R"({"access_token":"abc","expires_in":1e300})",
        R"({"access_token":"abc","expires_in":-0.5})", R"({"access_token":null})"}) {
    EXPECT_FALSE(parse_token_reply(bad).ok) << bad;
  }
  // Non-ASCII bytes in token_type do not upset the lowercasing.
  EXPECT_FALSE(parse_token_reply("{\"access_token\":\"a\",\"token_type\":\"\xc3\xa9\"}").ok);
  EXPECT_TRUE(parse_token_reply(R"({"access_token":"a","token_type":"BEARER"})").ok);
  r = parse_token_reply(R"({"access_token":"a","expires_in":99999999999999})");
  EXPECT_EQ(r.expires_in, limits::oauth_max_expires_in.count());
}

TEST(OAuthTokenReply, ProviderTextIsTerminalSafeOneLineAndBounded) {
  TokenReply r;
  r.error = "invalid_grant";
  // C1 CSI in UTF-8 (U+009B), a newline, a BEL and an OSC sequence.
  r.error_description =
      "a\xc2\x9b"
      "2J\nb\x07\x1b]0;pwned\x07 c";
  std::string d = describe_error(r);
  EXPECT_EQ(d.find('\n'), std::string::npos);
  EXPECT_EQ(d.find('\x07'), std::string::npos);
  EXPECT_EQ(d.find('\x1b'), std::string::npos);
  EXPECT_EQ(d.find("\xc2\x9b"), std::string::npos);
  EXPECT_EQ(d.find("invalid_grant (a"), 0u);
  // Cut on a character boundary, then marked.
  r.error_description = std::string(284, 'x') + "\xc3\xa9\xc3\xa9\xc3\xa9";
  d = describe_error(r);
  EXPECT_LE(d.size(), limits::oauth_max_error_text);
  EXPECT_TRUE(d.ends_with("x...")) << d;
  EXPECT_EQ(d.find('\\'), std::string::npos) << d;  // no half character escaped
  // The device endpoint's error goes the same way.
  std::string why;
  EXPECT_FALSE(parse_device_authorization(
      R"({"error":"invalid_client","error_description":"\u001b[31mred\nline"})", why));
  EXPECT_EQ(why.find('\x1b'), std::string::npos);
  EXPECT_EQ(why.find('\n'), std::string::npos);
  EXPECT_NE(why.find("invalid_client"), std::string::npos);
}
