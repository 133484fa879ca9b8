// The fetch config loader, delivery targets and ~/.netrc.
#include <gtest/gtest.h>
#include <stdlib.h>

#include "client/credentials.hpp"
#include "client/fetch_config.hpp"
#include "client/target.hpp"
#include "client_config_util.hpp"
#include "config/config.hpp"

using namespace popbox::client;

namespace {

FetchConfig load(const std::string& text) {
  return popbox::test::load_fetch_text(text);
}

std::string error_of(const std::string& text) {
  return popbox::test::fetch_config_error(text);
}

const std::string minimal =
    "[[account]]\nname = \"work\"\nhost = \"pop.example.com\"\nuser = \"alice\"\n"
    "password = \"pw\"\ndeliver = \"maildir:~/Mail/work\"\n";

}  // namespace

TEST(FetchConfig, DefaultsOfAMinimalAccount) {
  unsetenv("XDG_STATE_HOME");
  FetchConfig cfg = load(minimal);
  ASSERT_EQ(cfg.accounts.size(), 1u);
  const AccountConfig& a = cfg.accounts[0];
  EXPECT_EQ(a.name, "work");
  EXPECT_EQ(a.port, 995);
  EXPECT_EQ(a.tls, TlsMode::implicit);
  EXPECT_EQ(a.auth, AuthMech::automatic);
  EXPECT_TRUE(a.keep);
  EXPECT_EQ(a.keep_days, 0);
  EXPECT_EQ(a.deliver.kind, Target::Kind::maildir);
  EXPECT_EQ(a.deliver.path, "/home/u/Mail/work");
  EXPECT_EQ(a.state_dir, "/home/u/.local/state/popbox");
  EXPECT_FALSE(a.max_size);
  EXPECT_EQ(a.timeout, std::chrono::seconds(60));
  EXPECT_TRUE(a.ca_file.empty());
  EXPECT_EQ(a.password, "pw");
  EXPECT_TRUE(a.where.ends_with(":1"));
}

TEST(FetchConfig, EveryKey) {
  FetchConfig cfg = load(
      "[[account]]\nname = \"a\"\nhost = \"h\"\nuser = \"u\"\ndeliver = \"mbox:/var/mail/u\"\n"
      "[[account]]\nname = \"b.2\"\nhost = \"h2\"\nport = 1110\ntls = \"starttls\"\n"
      "ca_file = \"~/ca.pem\"\nfingerprint = \"sha256:" +
      std::string(43, 'A') +
      "=\"\n"
      "user = \"u2\"\npassword_command = \"pass show x\"\nauth = \"xoauth2\"\nkeep = false\n"
      "keep_days = 30\ndeliver = \"lmtp:[::1]:24/bob\"\nmax_size = \"25M\"\n"
      "state_dir = \"/tmp/s\"\ntimeout = \"2m\"\n"
      "[[account]]\nname = \"c\"\nhost = \"h\"\nuser = \"u\"\ntls = \"none\"\n"
      "deliver = \"mda:procmail -d u\"\nmax_size = 1000\n");
  ASSERT_EQ(cfg.accounts.size(), 3u);
  const AccountConfig& b = cfg.accounts[1];
  EXPECT_EQ(b.port, 1110);
  EXPECT_EQ(b.tls, TlsMode::starttls);
  EXPECT_EQ(b.ca_file, "/home/u/ca.pem");
  EXPECT_EQ(b.fingerprint, std::string(43, 'A') + "=");
  EXPECT_EQ(b.password_command, "pass show x");
  EXPECT_EQ(b.auth, AuthMech::xoauth2);
  EXPECT_FALSE(b.keep);
  EXPECT_EQ(b.keep_days, 30);
  EXPECT_EQ(b.deliver.kind, Target::Kind::lmtp);
  EXPECT_EQ(b.deliver.host, "::1");
  EXPECT_EQ(b.deliver.port, 24);
  EXPECT_EQ(b.deliver.recipient, "bob");
  EXPECT_EQ(b.max_size, 25u << 20);
  EXPECT_EQ(b.state_dir, "/tmp/s");
  EXPECT_EQ(b.timeout, std::chrono::minutes(2));
  const AccountConfig& c = cfg.accounts[2];
  EXPECT_EQ(c.port, 110);
  EXPECT_EQ(c.tls, TlsMode::none);
  EXPECT_EQ(c.deliver.command, "procmail -d u");
  EXPECT_EQ(c.max_size, 1000u);
  EXPECT_EQ(cfg.accounts[0].deliver.path, "/var/mail/u");
}

TEST(FetchConfig, ErrorsNameFileLineAndProblem) {
  struct Case {
    std::string text, want;
  };
  std::vector<Case> cases = {
      {minimal + "colour = \"red\"\n", "F:7:10: unknown key 'colour' in [[account]]"},
      {minimal + "port = 0\n", "F:7:8: 'port' must be an integer in 1..65535"},
      {minimal + "tls = \"maybe\"\n",
       "F:7:7: 'tls' must be \"implicit\", \"starttls\" or \"none\""},
      {minimal + "auth = \"cram\"\n",
       "F:7:8: 'auth' must be auto, user, plain, login, apop, xoauth2 or oauthbearer"},
      {minimal + "keep = \"yes\"\n", "F:7:8: 'keep' must be true or false"},
      {minimal + "keep_days = -1\n", "F:7:13: 'keep_days' must be an integer in 0..100000"},
      {minimal + "max_size = \"big\"\n", "F:7:12: 'max_size' must be a size such as \"25M\""},
      {minimal + "timeout = \"soon\"\n", "F:7:11: 'timeout' must be a duration such as \"60s\""},
      {minimal + "fingerprint = \"md5:abc\"\n",
       "F:7:15: 'fingerprint' must be \"sha256:\" followed by the base64 of 32 bytes"},
      {minimal + "password_command = \"x\"\n",
       "F:7:20: 'password' and 'password_command' exclude each other"},
      {"[[account]]\nname = \"a\"\nhost = \"h\"\nuser = \"u\"\ndeliver = \"pop3:x\"\n",
       "F:5:11: 'deliver': unknown delivery kind 'pop3' (expected maildir, mbox, mda or lmtp)"},
      {"[[account]]\nname = \"a b\"\nhost = \"h\"\nuser = \"u\"\ndeliver = \"mbox:x\"\n",
       "F:2:8: 'name' may only use letters, digits, '.', '_' and '-' (it names files)"},
      {"[[account]]\nname = \"a\"\nuser = \"u\"\ndeliver = \"mbox:x\"\n",
       "F:1:1: account needs a non-empty 'host'"},
      {minimal + minimal, "F:8:8: account name 'work' is used twice"},
      {"[account]\nname = \"a\"\n", "F:1:1: 'account' must be written as [[account]] tables"},
      {"", "F: no [[account]] defined"},
      {"verbose = true\n", "F:1:11: unknown key 'verbose' (expected [[account]] tables)"},
      {"[[account]\n", "F:1:11: Error while parsing table header: expected ']', saw '\\n'"},
      {minimal + "tls = \"none\"\nca_file = \"x\"\n",
       "F:8:11: 'ca_file' needs tls = \"implicit\" or \"starttls\""},
  };
  for (const auto& c : cases) EXPECT_EQ(error_of(c.text), c.want) << c.text;
}

TEST(Target, ParsesEveryKind) {
  std::string err;
  auto m = parse_target("maildir:~/Mail/", "/h", err);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->kind, Target::Kind::maildir);
  EXPECT_EQ(m->path, "/h/Mail");
  auto b = parse_target("mbox:/var/mail/u", "/h", err);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->kind, Target::Kind::mbox);
  auto d = parse_target("mda:cat > /tmp/x", "/h", err);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->command, "cat > /tmp/x");
  auto l = parse_target("lmtp:localhost:24", "/h", err);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->host, "localhost");
  EXPECT_EQ(l->port, 24);
  EXPECT_EQ(l->recipient, "");
  EXPECT_EQ(l->spec, "lmtp:localhost:24");
  auto v6 = parse_target("lmtp:[::1]:2424/alice@example.com", "/h", err);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 2424);
  EXPECT_EQ(v6->recipient, "alice@example.com");
}

TEST(Target, RejectsMalformedTargets) {
  for (const char* bad :
       {"", "Mail", "maildir:", "mbox:", "mda:", "mda:  ", "lmtp:host", "lmtp:host:0",
        "lmtp:host:99999", "lmtp::24", "lmtp:[::1]24", "lmtp:h:24/", "imap:x"}) {
    std::string err;
    EXPECT_FALSE(parse_target(bad, "/h", err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

TEST(Netrc, LooksUpMachineAndLogin) {
  std::string text =
      "machine other login alice password nope\n"
      "machine pop.example.com\n  login bob password bobpw\n"
      "machine pop.example.com login alice password alicepw account x\n"
      "default login alice password fallback\n";
  EXPECT_EQ(netrc_lookup(text, "pop.example.com", "alice"), "alicepw");
  EXPECT_EQ(netrc_lookup(text, "pop.example.com", "bob"), "bobpw");
  EXPECT_EQ(netrc_lookup(text, "elsewhere", "alice"), "fallback");
  EXPECT_EQ(netrc_lookup(text, "elsewhere", "carol"), std::nullopt);
  EXPECT_EQ(netrc_lookup("machine h password p", "h", "anyone"), "p");
}

TEST(PasswordCommand, FirstLineOfOutput) {
  std::string secret;
  EXPECT_FALSE(run_password_command("printf 'tok\\nsecond\\n'", secret));
  EXPECT_EQ(secret, "tok");
  Failure f = run_password_command("exit 3", secret);
  EXPECT_TRUE(f);
  EXPECT_EQ(f.code, make_error_code(fetch_errc::auth));
  EXPECT_TRUE(run_password_command("true", secret));  // prints nothing
}

TEST(FetchConfig, FetchTableSetsMaxMessagesPerRunForEveryAccount) {
  const std::string two =
      "[[account]]\nname = \"a\"\nhost = \"h\"\nuser = \"u\"\ndeliver = \"mbox:x\"\n"
      "[[account]]\nname = \"b\"\nhost = \"h\"\nuser = \"u\"\ndeliver = \"mbox:y\"\n";
  FetchConfig d = load(two);
  EXPECT_EQ(d.max_messages_per_run, 10000u);
  EXPECT_EQ(d.accounts[1].max_messages_per_run, 10000u);
  // Before or after the accounts: the same.
  for (const std::string& text : {"[fetch]\nmax_messages_per_run = 250\n" + two,
                                  two + "[fetch]\nmax_messages_per_run = 250\n"}) {
    FetchConfig c = load(text);
    EXPECT_EQ(c.max_messages_per_run, 250u);
    ASSERT_EQ(c.accounts.size(), 2u);
    EXPECT_EQ(c.accounts[0].max_messages_per_run, 250u);
    EXPECT_EQ(c.accounts[1].max_messages_per_run, 250u);
  }
  EXPECT_EQ(error_of("[fetch]\nmax_messages_per_run = 0\n" + two),
            "F:2:24: 'max_messages_per_run' must be an integer in 1..100000000");
  EXPECT_EQ(error_of("[fetch]\nmax_messages_per_run = \"many\"\n" + two),
            "F:2:24: 'max_messages_per_run' must be an integer in 1..100000000");
  EXPECT_EQ(error_of("[fetch]\nmax_mesages_per_run = 5\n" + two),
            "F:2:23: unknown key 'max_mesages_per_run' in [fetch]");
  EXPECT_EQ(error_of("fetch = 5\n" + two), "F:1:9: 'fetch' must be a table ([fetch])");
}
