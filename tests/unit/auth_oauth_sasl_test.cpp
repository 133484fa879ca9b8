// OAUTHBEARER (RFC 7628) and XOAUTH2 client messages, table-driven.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "auth/oauth_sasl.hpp"

using namespace popbox::auth;
using namespace std::string_literals;

namespace {

struct Case {
  const char* name;
  std::string msg;
  std::optional<std::string> user, token;  // nullopt: refused
};

}  // namespace

TEST(OAuthSasl, OauthbearerMessages) {
  const Case cases[] = {
      {"with host and port",
       "n,a=alice@example.com,\x01host=pop.test\x01port=110\x01"
       "auth=Bearer eyJ.x-y_z.AB\x01\x01"s,
       "alice@example.com", "eyJ.x-y_z.AB"},
      {"auth only",
       "n,a=bob,\x01"
       "auth=Bearer tok\x01\x01"s,
       "bob", "tok"},
      {"y flag, scheme case, two spaces",
       "y,a=bob,\x01"
       "auth=bEaReR  t0k==\x01\x01"s,
       "bob", "t0k=="},
      {"escaped user",
       "n,a=a=2Cb=3Dc,\x01"
       "auth=Bearer t\x01\x01"s,
       "a,b=c", "t"},
      {"no authzid",
       "n,,\x01"
       "auth=Bearer t\x01\x01"s,
       std::nullopt, std::nullopt},
      {"channel binding",
       "p=tls-unique,a=bob,\x01"
       "auth=Bearer t\x01\x01"s,
       std::nullopt, std::nullopt},
      {"bad escape",
       "n,a=a=2Xb,\x01"
       "auth=Bearer t\x01\x01"s,
       std::nullopt, std::nullopt},
      {"no auth", "n,a=bob,\x01host=x\x01\x01"s, std::nullopt, std::nullopt},
      {"two auth",
       "n,a=bob,\x01"
       "auth=Bearer t\x01"
       "auth=Bearer u\x01\x01"s,
       std::nullopt, std::nullopt},
      {"no final kvsep",
       "n,a=bob,\x01"
       "auth=Bearer t\x01"s,
       std::nullopt, std::nullopt},
      {"trailing bytes",
       "n,a=bob,\x01"
       "auth=Bearer t\x01\x01x"s,
       std::nullopt, std::nullopt},
      {"basic scheme",
       "n,a=bob,\x01"
       "auth=Basic dDp0\x01\x01"s,
       std::nullopt, std::nullopt},
      {"empty token",
       "n,a=bob,\x01"
       "auth=Bearer \x01\x01"s,
       std::nullopt, std::nullopt},
      {"token with a space",
       "n,a=bob,\x01"
       "auth=Bearer a b\x01\x01"s,
       std::nullopt, std::nullopt},
      {"NUL in value",
       "n,a=bob,\x01host=a\0b\x01"
       "auth=Bearer t\x01\x01"s,
       std::nullopt, std::nullopt},
      {"key not alpha",
       "n,a=bob,\x01h0st=a\x01"
       "auth=Bearer t\x01\x01"s,
       std::nullopt, std::nullopt},
      {"the dummy response", "\x01"s, std::nullopt, std::nullopt},
      {"empty", ""s, std::nullopt, std::nullopt},
  };
  for (const auto& c : cases) {
    auto m = parse_oauthbearer(c.msg);
    ASSERT_EQ(m.has_value(), c.user.has_value()) << c.name;
    if (!m) continue;
    EXPECT_EQ(m->user, *c.user) << c.name;
    EXPECT_EQ(m->token, *c.token) << c.name;
  }
}

TEST(OAuthSasl, Xoauth2Messages) {
  const Case cases[] = {
      {"good",
       "user=alice@example.com\x01"
       "auth=Bearer ya29.a0Af\x01\x01"s,
       "alice@example.com", "ya29.a0Af"},
      {"auth first", "auth=Bearer t\x01user=bob\x01\x01"s, "bob", "t"},
      {"no user", "auth=Bearer t\x01\x01"s, std::nullopt, std::nullopt},
      {"empty user",
       "user=\x01"
       "auth=Bearer t\x01\x01"s,
       std::nullopt, std::nullopt},
      {"two users",
       "user=a\x01user=b\x01"
       "auth=Bearer t\x01\x01"s,
       std::nullopt, std::nullopt},
      {"no terminator",
       "user=a\x01"
       "auth=Bearer t"s,
       std::nullopt, std::nullopt},
  };
  for (const auto& c : cases) {
    auto m = parse_xoauth2(c.msg);
    ASSERT_EQ(m.has_value(), c.user.has_value()) << c.name;
    if (!m) continue;
    EXPECT_EQ(m->user, *c.user) << c.name;
    EXPECT_EQ(m->token, *c.token) << c.name;
  }
}

TEST(OAuthSasl, ErrorChallengeIsTheRfc7628Json) {
  EXPECT_EQ(oauth_error_challenge("pop3"),
            R"({"status":"invalid_token","schemes":"bearer","scope":"pop3"})");
  EXPECT_EQ(oauth_error_challenge("a\"b"),
            R"({"status":"invalid_token","schemes":"bearer","scope":"a\"b"})");
}
