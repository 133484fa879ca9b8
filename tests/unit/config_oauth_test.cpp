// [auth.oauth]: the keys of the OAuth bearer token section.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "config/config.hpp"
#include "config_test_util.hpp"

namespace cfg = popbox::config;

namespace {

std::string with_oauth(const std::string& section) {
  return "[auth]\npasswd_file = \"/etc/popbox/users\"\n[auth.oauth]\n" + section +
         "[mail]\nmaildir = \"/var/mail/%d/%n\"\n";
}

using popbox::test::load_error;
using popbox::test::load_text;

}  // namespace

TEST(ConfigOauth, TheDocumentedExampleParses) {
  auto c = load_text(with_oauth(R"(issuer = "https://idp.example.com"
audience = "pop3"
public_keys = ["/etc/popbox/idp.pem", "/etc/popbox/idp2.pem"]
user_claim = "email"
)"));
  ASSERT_TRUE(c.auth.oauth);
  EXPECT_EQ(c.auth.oauth->issuer, "https://idp.example.com");
  EXPECT_EQ(c.auth.oauth->audience, "pop3");
  ASSERT_EQ(c.auth.oauth->public_keys.size(), 2u);
  EXPECT_EQ(c.auth.oauth->public_keys[1], "/etc/popbox/idp2.pem");
  EXPECT_TRUE(c.auth.oauth->jwks_file.empty());
  EXPECT_EQ(c.auth.oauth->user_claim, "email");

  auto j = load_text(with_oauth(
      "issuer = \"https://i\"\naudience = \"a\"\njwks_file = \"/etc/popbox/jwks.json\"\n"));
  EXPECT_EQ(j.auth.oauth->jwks_file, "/etc/popbox/jwks.json");
  EXPECT_EQ(j.auth.oauth->user_claim, "email");  // the default
  EXPECT_FALSE(load_text("[auth]\npasswd_file = \"/u\"\n[mail]\nmaildir = \"/m/%u\"\n").auth.oauth);
}

TEST(ConfigOauth, MistakesAreErrors) {
  const std::string keys = "public_keys = [\"/k.pem\"]\n";
  EXPECT_NE(load_error(with_oauth("audience = \"a\"\n" + keys)).find("needs 'issuer'"),
            std::string::npos);
  EXPECT_NE(load_error(with_oauth("issuer = \"i\"\n" + keys)).find("needs 'audience'"),
            std::string::npos);
  EXPECT_NE(load_error(with_oauth("issuer = \"i\"\naudience = \"a\"\n"))
                .find("exactly one of 'public_keys' and 'jwks_file'"),
            std::string::npos);
  EXPECT_NE(load_error(with_oauth("issuer = \"i\"\naudience = \"a\"\n" + keys +
                                  "jwks_file = \"/j.json\"\n"))
                .find("exactly one"),
            std::string::npos);
  EXPECT_NE(load_error(with_oauth("issuer = \"i\"\naudience = \"a\"\npublic_keys = []\n"))
                .find("non-empty array"),
            std::string::npos);
  EXPECT_NE(load_error(with_oauth("issuer = \"i\"\naudience = \"a\"\npublic_keys = [1]\n"))
                .find("entries must be paths"),
            std::string::npos);
  EXPECT_NE(load_error(with_oauth("issuer = \"i\"\naudience = \"a\"\n" + keys + "scope = \"x\"\n"))
                .find("unknown key 'scope' in [auth.oauth]"),
            std::string::npos);
  EXPECT_NE(
      load_error(with_oauth("issuer = \"i\"\naudience = \"a\"\n" + keys + "user_claim = \"\"\n"))
          .find("'user_claim' is empty"),
      std::string::npos);
}
