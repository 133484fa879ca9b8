#include <gtest/gtest.h>

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

TEST(Config, IssueExampleParses) {
  auto c = load_text(R"([server]
listen = ["127.0.0.1:1110"]
listen_tls = ["127.0.0.1:1995"]
hostname = "mail.example.com"
idle_timeout = "10m"
max_connections = 10000

[tls]
cert = "/etc/popbox/cert.pem"
key = "/etc/popbox/key.pem"
min_version = "1.2"

[auth]
passwd_file = "/etc/popbox/users.passwd"
allow_plaintext = "loopback"

[mail]
maildir = "/var/mail/%d/%n/Maildir"
)");
  ASSERT_EQ(c.server.listen.size(), 1u);
  EXPECT_EQ(c.server.listen[0].host, "127.0.0.1");
  EXPECT_EQ(c.server.listen[0].port, 1110);
  EXPECT_EQ(c.server.listen_tls[0].port, 1995);
  EXPECT_EQ(c.server.hostname, "mail.example.com");
  EXPECT_EQ(c.server.idle_timeout, std::chrono::minutes(10));
  EXPECT_TRUE(c.tls.enabled);
  EXPECT_EQ(c.auth.allow_plaintext, cfg::Plaintext::loopback);
  EXPECT_EQ(c.mail.maildir, "/var/mail/%d/%n/Maildir");
}

TEST(Config, DefaultsNeedOnlyPasswdFileAndMaildir) {
  auto c = load_text(minimal);
  EXPECT_EQ(c.server.listen[0].port, 110);
  EXPECT_TRUE(c.server.listen_tls.empty());
  EXPECT_FALSE(c.tls.enabled);
  EXPECT_EQ(c.server.idle_timeout, std::chrono::minutes(10));
  EXPECT_EQ(c.auth.failure_delay, std::chrono::seconds(2));
  EXPECT_FALSE(c.auth.apop);
}

TEST(Config, ErrorsNameFileLineAndProblem) {
  EXPECT_NE(load_error("[mail]\nmaildir = \"/m\"\n").find("[auth] passwd_file is required"),
            std::string::npos);
  EXPECT_NE(load_error(minimal + "[server]\nlisten = [\"nope\"]\n").find(":6:"), std::string::npos);
  EXPECT_NE(load_error(minimal + "[server]\nlisen = []\n").find("unknown key 'lisen'"),
            std::string::npos);
  EXPECT_NE(load_error(minimal + "[server]\nidle_timeout = \"10 parsecs\"\n").find("duration"),
            std::string::npos);
  EXPECT_NE(load_error("[server\n").find(":1:"), std::string::npos);
  EXPECT_NE(load_error(minimal + "[server]\nlisten_tls = [\"127.0.0.1:995\"]\n").find("[tls]"),
            std::string::npos);
  EXPECT_NE(load_error(minimal + "[tls]\ncert = \"c\"\n").find("'key'"), std::string::npos);
}

TEST(Config, TlsTakesOneCertificatePerKeyTypePairedInOrder) {
  auto one = popbox::test::load_text(minimal + "[tls]\ncert = \"/c\"\nkey = \"/k\"\n");
  ASSERT_EQ(one.tls.certs.size(), 1u);
  EXPECT_EQ(one.tls.cert, "/c");
  EXPECT_EQ(one.tls.key, "/k");
  auto two = popbox::test::load_text(minimal +
                                     "[tls]\ncert = [\"/ec.pem\", \"/rsa.pem\"]\n"
                                     "key = [\"/ec.key\", \"/rsa.key\"]\n");
  ASSERT_EQ(two.tls.certs.size(), 2u);
  EXPECT_EQ(two.tls.certs[1], "/rsa.pem");
  EXPECT_EQ(two.tls.keys[1], "/rsa.key");
  // The first pair is the one older code paths (SCRAM's fake salts) use.
  EXPECT_EQ(two.tls.cert, "/ec.pem");
  EXPECT_EQ(two.tls.key, "/ec.key");
  EXPECT_NE(
      load_error(minimal + "[tls]\ncert = [\"/a\", \"/b\"]\nkey = \"/k\"\n").find("as many files"),
      std::string::npos);
  EXPECT_NE(load_error(minimal + "[tls]\ncert = []\nkey = []\n").find("non-empty array"),
            std::string::npos);
  EXPECT_NE(load_error(minimal + "[tls]\ncert = [1]\nkey = [\"/k\"]\n").find("entries"),
            std::string::npos);
  EXPECT_NE(load_error(minimal + "[tls]\ncert = \"\"\nkey = \"/k\"\n").find("'cert'"),
            std::string::npos);
}

TEST(Config, ParsesDurationsSizesEndpoints) {
  using namespace std::chrono;
  EXPECT_EQ(cfg::parse_duration("90s"), seconds(90));
  EXPECT_EQ(cfg::parse_duration("10m"), minutes(10));
  EXPECT_EQ(cfg::parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(cfg::parse_duration("2"), seconds(2));
  EXPECT_FALSE(cfg::parse_duration("m"));
  EXPECT_FALSE(cfg::parse_duration("5 m"));
  EXPECT_EQ(cfg::parse_size("50M"), 50u << 20);
  EXPECT_FALSE(cfg::parse_size("50X"));
  auto v6 = cfg::parse_endpoint("[::1]:110");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_FALSE(cfg::parse_endpoint("::1:110"));
  EXPECT_FALSE(cfg::parse_endpoint("127.0.0.1:70000"));
  EXPECT_EQ(cfg::parse_endpoint("*:110")->host, "0.0.0.0");
}

TEST(Config, MailInSections) {
  auto c = load_text(minimal + R"([lmtp]
listen = ["127.0.0.1:2424"]
unix = "/run/popbox/lmtp.sock"
max_message_size = "50M"
[quota]
storage = "100M"
messages = 10000
temporary = true
[deliver]
delivered_to = false
)");
  EXPECT_EQ(c.lmtp.listen[0].port, 2424);
  EXPECT_EQ(c.lmtp.unix_path, "/run/popbox/lmtp.sock");
  EXPECT_EQ(c.lmtp.max_message_size, 50u << 20);
  EXPECT_EQ(c.quota.storage, 100u << 20);
  EXPECT_EQ(c.quota.messages, 10000u);
  EXPECT_TRUE(c.quota.temporary);
  EXPECT_TRUE(c.deliver.return_path);
  EXPECT_FALSE(c.deliver.delivered_to);
  EXPECT_EQ(c.mail.uidl_format, "popbox");
  EXPECT_NE(load_error(minimal + "[quota]\nstorage = \"lots\"\n").find("size"), std::string::npos);
}

TEST(Config, HugeDurationsAreRejectedNotWrapped) {
  EXPECT_FALSE(cfg::parse_duration("9223372036854775807"));
  EXPECT_FALSE(cfg::parse_duration("999999999999999999d"));
  EXPECT_EQ(cfg::parse_duration("36500d"), std::chrono::hours(24 * 36500));
  EXPECT_NE(load_error(minimal + "[server]\nidle_timeout = 18446744073709552\n").find("duration"),
            std::string::npos);
  EXPECT_NE(load_error(minimal + "[server]\nlogin_delay = \"25000d\"\n").find("at most a year"),
            std::string::npos);
}

TEST(Config, ServerUserAndGroup) {
  auto none = load_text(minimal);
  EXPECT_EQ(none.server.user, "");
  EXPECT_EQ(none.server.group, "");
  auto both = load_text(minimal + "[server]\nuser = \"popbox\"\ngroup = \"mail\"\n");
  EXPECT_EQ(both.server.user, "popbox");
  EXPECT_EQ(both.server.group, "mail");
  EXPECT_NE(load_error(minimal + "[server]\ngroup = \"mail\"\n").find("'group' needs 'user'"),
            std::string::npos);
}

TEST(Config, UsernameFormat) {
  auto c = load_text(minimal);
  EXPECT_EQ(c.auth.canonical_user("Alice@Example.COM"), "alice@example.com");
  auto exact = load_text(
      "[auth]\npasswd_file = \"/p\"\nusername_format = \"%u\"\n"
      "[mail]\nmaildir = \"/m/%u\"\n");
  EXPECT_EQ(exact.auth.canonical_user("Alice"), "Alice");
  EXPECT_NE(load_error("[auth]\npasswd_file = \"/p\"\nusername_format = \"%n\"\n"
                       "[mail]\nmaildir = \"/m/%u\"\n")
                .find("username_format"),
            std::string::npos);
}

TEST(Config, FirstValidUid) {
  EXPECT_EQ(load_text(minimal).auth.first_valid_uid, 500u);  // Dovecot's usual value
  auto c = load_text(
      "[auth]\npasswd_file = \"/p\"\nfirst_valid_uid = 1000\n[mail]\nmaildir = \"/m/%u\"\n");
  EXPECT_EQ(c.auth.first_valid_uid, 1000u);
  for (const char* bad : {"0", "-1", "\"500\"", "4294967296"}) {
    EXPECT_NE(load_error(std::string("[auth]\npasswd_file = \"/p\"\nfirst_valid_uid = ") + bad +
                         "\n[mail]\nmaildir = \"/m/%u\"\n")
                  .find("first_valid_uid"),
              std::string::npos)
        << bad;
  }
}

TEST(Config, MaildropLockFileDefaultsToTheConfigDirectory) {
  // load_text writes the config to /tmp.
  EXPECT_EQ(load_text(minimal).mail.lock_file, "/run/popbox/maildrop.lock");
  auto set = [](const std::string& value) {
    return load_text("[auth]\npasswd_file = \"/p\"\n[mail]\nmaildir = \"/m/%u\"\nlock_file = " +
                     value + "\n")
        .mail.lock_file;
  };
  EXPECT_EQ(set("\"/run/popbox/maildrop.lock\""), "/run/popbox/maildrop.lock");
  EXPECT_EQ(set("\"\""), "");  // per-Maildir flock
  EXPECT_NE(load_error("[auth]\npasswd_file = \"/p\"\n[mail]\nmaildir = \"/m/%u\"\nlock_file = 3\n")
                .find("lock_file"),
            std::string::npos);
}

TEST(Config, XUidlAdoptionIsOffUnlessAsked) {
  EXPECT_FALSE(load_text(minimal).mail.uidl_adopt_x_uidl);
  auto on = load_text(
      "[auth]\npasswd_file = \"/p\"\n[mail]\nmaildir = \"/m/%u\"\nuidl_adopt_x_uidl = true\n");
  EXPECT_TRUE(on.mail.uidl_adopt_x_uidl);
  EXPECT_NE(load_error("[auth]\npasswd_file = \"/p\"\n[mail]\nmaildir = \"/m/%u\"\n"
                       "uidl_adopt_x_uidl = \"yes\"\n")
                .find("uidl_adopt_x_uidl"),
            std::string::npos);
}
