// [auth] cache_ttl and cache_size: the verified-credentials cache's keys.
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"
#include "config_test_util.hpp"

namespace {

using popbox::test::load_error;
using popbox::test::load_text;

std::string with_auth(const std::string& keys) {
  return "[auth]\npasswd_file = \"/etc/popbox/users\"\n" + keys +
         "[mail]\nmaildir = \"/var/mail/%d/%n\"\n";
}

}  // namespace

TEST(ConfigAuthCache, OnByDefault) {
  auto c = load_text(popbox::test::minimal_config);
  EXPECT_EQ(c.auth.cache_ttl, std::chrono::minutes(5));
  EXPECT_EQ(c.auth.cache_size, 100000u);
}

TEST(ConfigAuthCache, ParsesBothKeysAndZeroTurnsItOff) {
  auto c = load_text(with_auth("cache_ttl = \"90s\"\ncache_size = 42\n"));
  EXPECT_EQ(c.auth.cache_ttl, std::chrono::seconds(90));
  EXPECT_EQ(c.auth.cache_size, 42u);
  EXPECT_EQ(load_text(with_auth("cache_ttl = \"0\"\n")).auth.cache_ttl.count(), 0);
  EXPECT_EQ(load_text(with_auth("cache_ttl = 0\n")).auth.cache_ttl.count(), 0);
  EXPECT_EQ(load_text(with_auth("cache_size = 0\n")).auth.cache_size, 0u);
}

TEST(ConfigAuthCache, RejectsBadValues) {
  EXPECT_NE(load_error(with_auth("cache_ttl = \"soon\"\n")).find("cache_ttl"), std::string::npos);
  EXPECT_NE(load_error(with_auth("cache_ttl = \"-1s\"\n")).find("cache_ttl"), std::string::npos);
  EXPECT_NE(load_error(with_auth("cache_size = -1\n")).find("cache_size"), std::string::npos);
  EXPECT_NE(load_error(with_auth("cache_size = 10000001\n")).find("cache_size"), std::string::npos);
  EXPECT_NE(load_error(with_auth("cache_size = \"big\"\n")).find("cache_size"), std::string::npos);
}
