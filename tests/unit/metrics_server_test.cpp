#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <chrono>
#include <regex>
#include <set>
#include <string>

#include "metrics/server_metrics.hpp"

using popbox::metrics::pop3_command_index;
using popbox::metrics::pop3_commands;
using popbox::metrics::ServerMetrics;
using namespace std::chrono_literals;

namespace {

// The value of the one sample line `series` (name and labels exactly).
std::string sample(const std::string& text, const std::string& series) {
  const std::string key = "\n" + series + " ";
  auto at = text.find(key);
  if (at == std::string::npos) return "missing";
  at += key.size();
  return text.substr(at, text.find('\n', at) - at);
}

}  // namespace

TEST(MetricsCommands, KeywordTable) {
  struct Case {
    std::string line, want;
  };
  const Case cases[] = {
      {"USER alice", "USER"}, {"pass secret with spaces", "PASS"},
      {"retr 1", "RETR"},     {"Top 1 0", "TOP"},
      {"QUIT", "QUIT"},       {"capa", "CAPA"},
      {"", "other"},          {"XYZZY", "other"},
      {"RETRX 1", "other"},   {" RETR", "other"},
      {"TO", "other"},        {"AUTH PLAIN AGFsaWNl", "AUTH"},
      {"noop\t", "other"},
  };
  for (const auto& c : cases) {
    const std::size_t i = pop3_command_index(c.line);
    EXPECT_EQ(i < pop3_commands.size() ? std::string(pop3_commands[i]) : "other", c.want) << c.line;
  }
}

TEST(MetricsServer, EventsMoveExactlyTheirSeries) {
  ServerMetrics m;
  using popbox::pop3::CloseReason;
  using popbox::pop3::LoginOutcome;
  using popbox::pop3::Mechanism;
  {
    ServerMetrics::OpenSession a(m, popbox::metrics::Listener::pop3s);
    EXPECT_EQ(sample(m.render(), "popbox_sessions_open{listener=\"pop3s\"}"), "1");
  }
  m.pop3_ended(true, CloseReason::quit, false, 10, 200);
  m.pop3_ended(false, CloseReason::none, true, 1, 2);
  m.pop3_ended(false, CloseReason::none, false, 0, 0);
  m.pop3_unidentified(false, false);
  m.pop3_unidentified(true, true);
  m.command("RETR 1");
  m.command("bogus");
  m.login(Mechanism::scram_sha_256, LoginOutcome::ok, 2ms);
  m.login(Mechanism::user, LoginOutcome::bad_credentials, 3s);
  m.auth_cache(true);
  m.auth_cache(false);
  m.auth_cache(false);
  m.tls_handshake(TLS1_3_VERSION);
  m.tls_handshake(TLS1_2_VERSION);
  m.tls_handshake(0x0301);
  m.lmtp_recipient(popbox::lmtp::RcptStatus::over_quota);
  m.lmtp_delivery(popbox::lmtp::RcptStatus::ok);
  m.lmtp_delivery(popbox::lmtp::RcptStatus::over_quota);
  m.lmtp_ended(false);
  m.maildrop_in_use();
  m.retr(true, 10ms);
  const std::string t = m.render();
  EXPECT_EQ(sample(t, "popbox_sessions_open{listener=\"pop3s\"}"), "0");
  EXPECT_EQ(sample(t, "popbox_sessions_total{listener=\"pop3s\",result=\"quit\"}"), "1");
  EXPECT_EQ(sample(t, "popbox_sessions_total{listener=\"pop3\",result=\"timeout\"}"), "1");
  EXPECT_EQ(sample(t, "popbox_sessions_total{listener=\"pop3\",result=\"disconnected\"}"), "1");
  EXPECT_EQ(sample(t, "popbox_sessions_total{listener=\"pop3\",result=\"proxy\"}"), "1");
  EXPECT_EQ(sample(t, "popbox_sessions_total{listener=\"pop3s\",result=\"timeout\"}"), "1");
  EXPECT_EQ(sample(t, "popbox_sessions_total{listener=\"lmtp\",result=\"closed\"}"), "1");
  EXPECT_EQ(sample(t, "popbox_received_bytes_total{listener=\"pop3s\"}"), "10");
  EXPECT_EQ(sample(t, "popbox_sent_bytes_total{listener=\"pop3s\"}"), "200");
  EXPECT_EQ(sample(t, "popbox_pop3_commands_total{command=\"RETR\"}"), "1");
  EXPECT_EQ(sample(t, "popbox_pop3_commands_total{command=\"other\"}"), "1");
  EXPECT_EQ(sample(t, "popbox_logins_total{mechanism=\"SCRAM-SHA-256\",result=\"ok\"}"), "1");
  EXPECT_EQ(sample(t, "popbox_logins_total{mechanism=\"USER\",result=\"bad_credentials\"}"), "1");
  EXPECT_EQ(sample(t, "popbox_login_duration_seconds_bucket{result=\"ok\",le=\"0.0025\"}"), "1");
  EXPECT_EQ(sample(t, "popbox_login_duration_seconds_bucket{result=\"failed\",le=\"2.5\"}"), "0");
  EXPECT_EQ(sample(t, "popbox_login_duration_seconds_bucket{result=\"failed\",le=\"5\"}"), "1");
  EXPECT_EQ(sample(t, "popbox_auth_cache_lookups_total{result=\"hit\"}"), "1");
  EXPECT_EQ(sample(t, "popbox_auth_cache_lookups_total{result=\"miss\"}"), "2");
  EXPECT_EQ(sample(t, "popbox_tls_handshakes_total{version=\"TLSv1.3\"}"), "1");
  EXPECT_EQ(sample(t, "popbox_tls_handshakes_total{version=\"TLSv1.2\"}"), "1");
  EXPECT_EQ(sample(t, "popbox_tls_handshakes_total{version=\"other\"}"), "1");
  EXPECT_EQ(sample(t, "popbox_lmtp_recipients_total{result=\"over_quota\"}"), "1");
  EXPECT_EQ(sample(t, "popbox_lmtp_deliveries_total{result=\"ok\"}"), "1");
  EXPECT_EQ(sample(t, "popbox_lmtp_quota_refusals_total"), "2");
  EXPECT_EQ(sample(t, "popbox_maildrop_in_use_total"), "1");
  EXPECT_EQ(sample(t, "popbox_retr_duration_seconds_count{command=\"TOP\"}"), "1");
  EXPECT_EQ(sample(t, "popbox_retr_duration_seconds_count{command=\"RETR\"}"), "0");
}

TEST(MetricsServer, EveryMechanismAndOutcomeHasASeries) {
  ServerMetrics m;
  const std::string t = m.render();
  for (std::size_t i = 0; i < popbox::pop3::mechanism_count; ++i) {
    const auto name = popbox::pop3::mechanism_name(static_cast<popbox::pop3::Mechanism>(i));
    for (const char* r :
         {"ok", "bad_credentials", "in_use", "login_delay", "temp_failure", "perm_failure"}) {
      EXPECT_EQ(sample(t, "popbox_logins_total{mechanism=\"" + std::string(name) + "\",result=\"" +
                              r + "\"}"),
                "0");
    }
  }
}

TEST(MetricsServer, ProcessGaugesComeFromProc) {
  ServerMetrics m;
  m.sample_process();
  const std::string t = m.render();
  EXPECT_GT(std::stoll(sample(t, "popbox_process_resident_memory_bytes")), 1 << 20);
  EXPECT_GE(std::stoll(sample(t, "popbox_process_open_fds")), 3);
}

TEST(MetricsServer, EveryNameIsPrefixedAndCountersEndInTotal) {
  ServerMetrics m;
  const std::string t = m.render();
  std::regex type_line("# TYPE (\\S+) (\\S+)\n");
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(t.begin(), t.end(), type_line); it != std::sregex_iterator();
       ++it) {
    const std::string name = (*it)[1], type = (*it)[2];
    EXPECT_EQ(name.rfind("popbox_", 0), 0u) << name;
    if (type == "counter") {
      EXPECT_TRUE(name.ends_with("_total")) << name;
    }
    if (type == "histogram") {
      EXPECT_TRUE(name.ends_with("_seconds")) << name;
    }
    EXPECT_TRUE(names.insert(name).second) << name;
  }
  EXPECT_GE(names.size(), 20u);
}
