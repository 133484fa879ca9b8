#include "metrics/server_metrics.hpp"

#include <dirent.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstring>

#ifndef POPBOX_VERSION
#define POPBOX_VERSION "unknown"
#endif

namespace popbox::metrics {

namespace {

// Seconds: from a cached login (well under a millisecond) to a penalty wait
// or a slow disk (seconds).
const std::vector<double> latency_buckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,  0.5,    1,     2.5,  5,     10};

constexpr std::string_view listener_names[] = {"pop3", "pop3s", "lmtp"};
constexpr std::string_view outcome_names[] = {"ok",          "bad_credentials", "in_use",
                                              "login_delay", "temp_failure",    "perm_failure"};
constexpr std::string_view rcpt_names[] = {"ok", "no_such_user", "over_quota", "temp_failure",
                                           "unsafe_mailbox"};
constexpr std::string_view tls_names[] = {"TLSv1.2", "TLSv1.3", "other"};

std::string s(std::string_view v) {
  return std::string(v);
}

std::size_t outcome_index(pop3::LoginOutcome o) noexcept {
  switch (o) {
    case pop3::LoginOutcome::ok:
      return 0;
    case pop3::LoginOutcome::bad_credentials:
      return 1;
    case pop3::LoginOutcome::in_use:
      return 2;
    case pop3::LoginOutcome::login_delay:
      return 3;
    case pop3::LoginOutcome::temp_failure:
      return 4;
    case pop3::LoginOutcome::perm_failure:
      break;
  }
  return 5;
}

std::size_t rcpt_index(lmtp::RcptStatus r) noexcept {
  switch (r) {
    case lmtp::RcptStatus::ok:
      return 0;
    case lmtp::RcptStatus::no_such_user:
      return 1;
    case lmtp::RcptStatus::over_quota:
      return 2;
    case lmtp::RcptStatus::temp_failure:
      return 3;
    case lmtp::RcptStatus::unsafe_mailbox:
      break;
  }
  return 4;
}

// The result= of a POP3 disconnect line, as an index into pop3_ended_.
std::size_t end_index(pop3::CloseReason why, bool timed_out) noexcept {
  if (timed_out) return 5;
  switch (why) {
    case pop3::CloseReason::quit:
      return 0;
    case pop3::CloseReason::too_many_errors:
      return 1;
    case pop3::CloseReason::line_too_long:
      return 2;
    case pop3::CloseReason::auth_failures:
      return 3;
    case pop3::CloseReason::none:
      break;
  }
  return 4;
}

constexpr pop3::CloseReason end_reasons[] = {
    pop3::CloseReason::quit, pop3::CloseReason::too_many_errors, pop3::CloseReason::line_too_long,
    pop3::CloseReason::auth_failures};

}  // namespace

std::size_t pop3_command_index(std::string_view line) noexcept {
  char word[5] = {};
  std::size_t n = 0;
  for (; n < line.size() && line[n] != ' '; ++n) {
    if (n == 4) return pop3_commands.size();
    word[n] = static_cast<char>(std::toupper(static_cast<unsigned char>(line[n])));
  }
  const std::string_view keyword(word, n);
  for (std::size_t i = 0; i < pop3_commands.size(); ++i) {
    if (pop3_commands[i] == keyword) return i;
  }
  return pop3_commands.size();
}

ServerMetrics::ServerMetrics() {
  auto& r = registry_;
  auto& open =
      r.add(Type::gauge, "popbox_sessions_open", "Sessions open now, by listener.", {"listener"});
  for (std::size_t l = 0; l < 3; ++l) open_[l] = &open.gauge({s(listener_names[l])});
  auto& ended = r.add(Type::counter, "popbox_sessions_total",
                      "Sessions ended, by listener and result (the result= of the disconnect "
                      "log line).",
                      {"listener", "result"});
  for (std::size_t l = 0; l < 2; ++l) {
    for (std::size_t e = 0; e < pop3_ends; ++e) {
      const std::string_view name = e < 4    ? pop3::close_reason_name(end_reasons[e])
                                    : e == 4 ? "disconnected"
                                    : e == 5 ? "timeout"
                                             : "proxy";
      pop3_ended_[l][e] = &ended.counter({s(listener_names[l]), s(name)});
    }
  }
  lmtp_ended_[0] = &ended.counter({"lmtp", "closed"});
  lmtp_ended_[1] = &ended.counter({"lmtp", "timeout"});
  auto& refused = r.add(Type::counter, "popbox_connections_refused_total",
                        "Connections refused before a session, by listener and the limit hit.",
                        {"listener", "reason"});
  for (std::size_t l = 0; l < 3; ++l) {
    refused_[l][0] = &refused.counter({s(listener_names[l]), "max_connections"});
    // Only POP3 has a per-address limit; LMTP's slot stays unused.
    refused_[l][1] = l == 2 ? refused_[l][0]
                            : &refused.counter({s(listener_names[l]), "max_connections_per_ip"});
  }
  auto& in =
      r.add(Type::counter, "popbox_received_bytes_total",
            "Bytes received from clients (POP3: counted when the session ends).", {"listener"});
  auto& out = r.add(Type::counter, "popbox_sent_bytes_total",
                    "Bytes sent to clients (POP3: counted when the session ends).", {"listener"});
  for (std::size_t l = 0; l < 3; ++l) {
    received_[l] = &in.counter({s(listener_names[l])});
    sent_[l] = &out.counter({s(listener_names[l])});
  }
  auto& commands = r.add(Type::counter, "popbox_pop3_commands_total",
                         "POP3 commands answered, by command (unknown ones: other).", {"command"});
  for (std::size_t c = 0; c <= pop3_commands.size(); ++c) {
    commands_[c] = &commands.counter({c < pop3_commands.size() ? s(pop3_commands[c]) : "other"});
  }
  auto& logins = r.add(Type::counter, "popbox_logins_total",
                       "POP3 login attempts, by mechanism and result.", {"mechanism", "result"});
  for (std::size_t m = 0; m < pop3::mechanism_count; ++m) {
    for (std::size_t o = 0; o < outcomes; ++o) {
      logins_[m][o] = &logins.counter(
          {s(pop3::mechanism_name(static_cast<pop3::Mechanism>(m))), s(outcome_names[o])});
    }
  }
  auto& login_seconds =
      r.add(Type::histogram, "popbox_login_duration_seconds",
            "Time from the credentials to the login's reply (check, penalty wait, maildrop "
            "open), by result: ok or failed.",
            {"result"}, latency_buckets);
  login_seconds_[0] = &login_seconds.histogram({"ok"});
  login_seconds_[1] = &login_seconds.histogram({"failed"});
  penalty_blocks_ =
      &r.add(Type::counter, "popbox_auth_penalty_blocks_total",
             "Logins refused unchecked because their address failed too often (auth penalty).")
           .counter();
  auto& cache =
      r.add(Type::counter, "popbox_auth_cache_lookups_total",
            "Password logins looked up in the verified-credentials cache, by result.", {"result"});
  cache_hits_ = &cache.counter({"hit"});
  cache_misses_ = &cache.counter({"miss"});
  maildrop_open_ = &r.add(Type::histogram, "popbox_maildrop_open_duration_seconds",
                          "Time to open a maildrop at login: the wait for a mail pool thread, "
                          "the lock (never waited for) and the scan.",
                          {}, latency_buckets)
                        .histogram();
  in_use_ = &r.add(Type::counter, "popbox_maildrop_in_use_total",
                   "Logins refused with [IN-USE]: another session holds the maildrop lock.")
                 .counter();
  auto& retr =
      r.add(Type::histogram, "popbox_retr_duration_seconds",
            "Time to send a whole RETR or TOP reply, by command.", {"command"}, latency_buckets);
  retr_[0] = &retr.histogram({"RETR"});
  retr_[1] = &retr.histogram({"TOP"});
  auto& tls = r.add(Type::counter, "popbox_tls_handshakes_total",
                    "TLS handshakes completed (POP3S and STLS), by protocol version.", {"version"});
  for (std::size_t v = 0; v < 3; ++v) tls_[v] = &tls.counter({s(tls_names[v])});
  tls_failures_ = &r.add(Type::counter, "popbox_tls_handshake_failures_total",
                         "TLS handshakes that failed or timed out.")
                       .counter();
  auto& rcpt = r.add(Type::counter, "popbox_lmtp_recipients_total",
                     "LMTP RCPT commands answered, by result.", {"result"});
  auto& deliveries =
      r.add(Type::counter, "popbox_lmtp_deliveries_total",
            "LMTP deliveries (one per recipient of a message), by result.", {"result"});
  for (std::size_t i = 0; i < rcpt_results; ++i) {
    rcpt_[i] = &rcpt.counter({s(rcpt_names[i])});
    deliveries_[i] = &deliveries.counter({s(rcpt_names[i])});
  }
  quota_refusals_ = &r.add(Type::counter, "popbox_lmtp_quota_refusals_total",
                           "LMTP recipients refused for being over quota (at RCPT or at delivery).")
                         .counter();
  rss_ = &r.add(Type::gauge, "popbox_process_resident_memory_bytes",
                "Resident memory of the process (read at scrape time).")
              .gauge();
  fds_ = &r.add(Type::gauge, "popbox_process_open_fds",
                "Open file descriptors of the process (read at scrape time).")
              .gauge();
  r.add(Type::gauge, "popbox_build_info", "Always 1; the labels name the build.", {"version"})
      .gauge({POPBOX_VERSION})
      .set(1);
  r.freeze();  // render() runs on the endpoint's thread from now on
}

void ServerMetrics::pop3_ended(bool implicit_tls, pop3::CloseReason why, bool timed_out,
                               std::uint64_t bytes_in, std::uint64_t bytes_out) noexcept {
  const int l = implicit_tls ? 1 : 0;
  pop3_ended_[l][end_index(why, timed_out)]->inc();
  received_[l]->inc(bytes_in);
  sent_[l]->inc(bytes_out);
}

void ServerMetrics::lmtp_ended(bool timed_out) noexcept {
  lmtp_ended_[timed_out ? 1 : 0]->inc();
}

void ServerMetrics::login(pop3::Mechanism m, pop3::LoginOutcome o, Duration took) noexcept {
  const std::size_t i = outcome_index(o);
  logins_[static_cast<std::size_t>(m)][i]->inc();
  login_seconds_[i == 0 ? 0 : 1]->observe(seconds(took));
}

void ServerMetrics::tls_handshake(int ssl_version) noexcept {
  tls_[ssl_version == TLS1_2_VERSION ? 0 : ssl_version == TLS1_3_VERSION ? 1 : 2]->inc();
}

void ServerMetrics::lmtp_recipient(lmtp::RcptStatus st) noexcept {
  rcpt_[rcpt_index(st)]->inc();
  if (st == lmtp::RcptStatus::over_quota) quota_refusals_->inc();
}

void ServerMetrics::lmtp_delivery(lmtp::RcptStatus st) noexcept {
  deliveries_[rcpt_index(st)]->inc();
  if (st == lmtp::RcptStatus::over_quota) quota_refusals_->inc();
}

void ServerMetrics::sample_process() noexcept {
  // statm: size resident shared ... in pages.
  if (std::FILE* f = std::fopen("/proc/self/statm", "re")) {
    unsigned long long size = 0, resident = 0;
    if (std::fscanf(f, "%llu %llu", &size, &resident) == 2) {
      rss_->set(static_cast<std::int64_t>(resident) * ::sysconf(_SC_PAGESIZE));
    }
    std::fclose(f);
  }
  if (DIR* d = ::opendir("/proc/self/fd")) {
    std::int64_t n = 0;
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    ::closedir(d);
    fds_->set(n - 1);  // not the descriptor that read the directory
  }
}

ServerMetrics& server() {
  static ServerMetrics metrics;
  return metrics;
}

}  // namespace popbox::metrics
