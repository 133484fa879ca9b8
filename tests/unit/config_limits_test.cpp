// The [limits] section, [lmtp] max_connections and [server] trusted_proxies.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "config/config.hpp"
#include "config_test_util.hpp"

namespace cfg = popbox::config;

namespace {

using popbox::test::load_error;
using popbox::test::load_text;
const std::string& minimal = popbox::test::minimal_config;

}  // namespace

TEST(ConfigLimits, Defaults) {
  auto c = load_text(minimal);
  EXPECT_EQ(c.limits.login_timeout, std::chrono::seconds(60));
  EXPECT_EQ(c.limits.max_connections_per_ip, 20u);
  EXPECT_EQ(c.limits.auth_failures_per_ip, 50u);
  EXPECT_EQ(c.lmtp.max_connections, 1000u);
  EXPECT_TRUE(c.server.trusted_proxies.empty());
}

TEST(ConfigLimits, ParsesEveryKey) {
  auto c = load_text(minimal +
                     "[limits]\nlogin_timeout = \"5s\"\nmax_connections_per_ip = 3\n"
                     "auth_failures_per_ip = 7\n[lmtp]\nmax_connections = 9\n"
                     "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"127.0.0.2/32\", "
                     "\"2001:db8::/32\", \"::1\"]\n");
  EXPECT_EQ(c.limits.login_timeout, std::chrono::seconds(5));
  EXPECT_EQ(c.limits.max_connections_per_ip, 3u);
  EXPECT_EQ(c.limits.auth_failures_per_ip, 7u);
  EXPECT_EQ(c.lmtp.max_connections, 9u);
  ASSERT_EQ(c.server.trusted_proxies.size(), 4u);
  EXPECT_EQ(c.server.trusted_proxies[0].prefix, 8);
  EXPECT_EQ(c.server.trusted_proxies[3].prefix, 128);
}

TEST(ConfigLimits, RejectsBadValues) {
  EXPECT_NE(load_error(minimal + "[limits]\nlogin_timeout = \"0s\"\n").find("login_timeout"),
            std::string::npos);
  EXPECT_NE(load_error(minimal + "[limits]\nmax_connections_per_ip = 0\n").find("1..1000000"),
            std::string::npos);
  EXPECT_NE(load_error(minimal + "[limits]\nmax_conections_per_ip = 2\n").find("unknown key"),
            std::string::npos);
  EXPECT_NE(load_error(minimal + "[server]\ntrusted_proxies = [\"10.0.0.1/8\"]\n")
                .find("trusted_proxies"),
            std::string::npos);
  EXPECT_NE(load_error(minimal + "[server]\ntrusted_proxies = [\"10.0.0.0/33\"]\n")
                .find("trusted_proxies"),
            std::string::npos);
  EXPECT_NE(load_error(minimal + "[server]\ntrusted_proxies = \"10.0.0.0/8\"\n").find("array"),
            std::string::npos);
}
