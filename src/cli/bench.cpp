// popbox bench: drives a POP3 server (popbox, Dovecot, any) with concurrent
// sessions and prints throughput and latency. bench/compare-dovecot uses it
// to put popbox and Dovecot side by side on the same mail.
#include <fmt/format.h>
#include <sysexits.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <iostream>

#include "cli/verbs.hpp"
#include "net/load_generator.hpp"

namespace popbox::cli {
namespace {

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::size_t k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

void add_bench(CLI::App& app, int& rc) {
  auto* cmd = app.add_subcommand("bench", "Measure a POP3 server under concurrent sessions");
  auto o = std::make_shared<net::LoadOptions>();
  auto seconds = std::make_shared<double>(10);
  auto label = std::make_shared<std::string>("server");
  auto stat_only = std::make_shared<bool>(false);
  cmd->add_option("--host", o->host, "Server address")->capture_default_str();
  cmd->add_option("--port", o->port, "Server port")->required();
  cmd->add_flag("--tls", o->tls, "Implicit TLS (POP3S); the certificate is not checked");
  cmd->add_option("--user-format", o->user_format, "User name; %d = connection number % users")
      ->capture_default_str();
  cmd->add_option("--users", o->users, "Distinct users")->capture_default_str();
  cmd->add_option("--password", o->password, "Password of every user")->required();
  cmd->add_option("--connections", o->connections, "Concurrent sessions")->capture_default_str();
  cmd->add_option("--seconds", *seconds, "Duration")->capture_default_str();
  cmd->add_option("--label", *label, "Name printed with the results");
  cmd->add_flag("--stat-only", *stat_only, "Log in and STAT only, no RETR");
  cmd->callback([o, seconds, label, stat_only, &rc] {
    o->duration = std::chrono::milliseconds(static_cast<long>(*seconds * 1000));
    o->retrieve = !*stat_only;
    net::LoadResult r = net::run_load(*o);
    double s = r.seconds > 0 ? r.seconds : 1;
    std::cout << fmt::format(
        "{}: sessions={} errors={} sessions_per_s={:.1f} messages_per_s={:.1f} MiB_per_s={:.2f} "
        "session_ms_p50={:.2f} session_ms_p99={:.2f}\n",
        *label, r.sessions, r.errors, static_cast<double>(r.sessions) / s,
        static_cast<double>(r.messages) / s, static_cast<double>(r.bytes) / s / (1 << 20),
        percentile(r.session_ms, 0.5), percentile(r.session_ms, 0.99));
    if (!r.first_error.empty()) std::cout << *label << ": first error: " << r.first_error << "\n";
    rc = r.sessions > 0 ? 0 : EX_UNAVAILABLE;
  });
}

}  // namespace popbox::cli
