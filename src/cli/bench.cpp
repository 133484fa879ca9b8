// popbox bench: drives a POP3 server (popbox, Dovecot, any) with concurrent
// sessions and prints throughput, latency and errors by reply.
// bench/compare-dovecot uses it to put popbox and Dovecot side by side.
#include <fmt/format.h>
#include <sysexits.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <thread>

#include "bench/load_generator.hpp"
#include "cli/verbs.hpp"

namespace popbox::cli {
namespace {

constexpr const char* bench_help = R"(Measure a POP3 server under concurrent sessions.

Scenarios (--scenario):
  full   USER PASS STAT UIDL, RETR of every message (pipelined), QUIT
  login  USER PASS STAT QUIT
  retr   log in, then RETR 1 over and over (latency per message)
  top    USER PASS STAT, TOP n 0 of every message (pipelined), QUIT
  idle   log in --idle sessions (--connections logins at a time), hold
         them for --seconds (NOOP every 60 s), then count those still
         answering; the refused ones appear under errors by reply.
         "popbox bench: holding N sessions" goes to stderr as the hold
         begins

--tls is implicit TLS (POP3S): the certificate is NOT checked (this is a
benchmark) and TLS session resumption is on (each thread keeps its last
session and offers it on the next connection).
Rates use 10^6 bytes per MB. Exit 0 when at least one session completed
(idle: at least one was held).)";

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

std::vector<std::string> read_users(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw CLI::ValidationError("--users", "cannot read " + path);
  std::vector<std::string> users;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty() && line.front() != '#') users.push_back(line);
  }
  if (users.empty()) throw CLI::ValidationError("--users", path + " holds no user name");
  return users;
}

const std::map<std::string, bench::Scenario> scenarios = {{"full", bench::Scenario::full},
                                                          {"login", bench::Scenario::login},
                                                          {"retr", bench::Scenario::retr},
                                                          {"top", bench::Scenario::top},
                                                          {"idle", bench::Scenario::idle}};

nlohmann::json to_json(bench::LoadResult& r, const bench::LoadOptions& o,
                       const std::string& scenario, const std::string& label) {
  double s = r.seconds > 0 ? r.seconds : 1;
  nlohmann::json j = {
      {"label", label},
      {"scenario", scenario},
      {"host", o.host},
      {"port", o.port},
      {"tls", o.tls},
      {"connections", o.connections},
      {"threads", r.threads},
      {"seconds", r.seconds},
      {"sessions", r.sessions},
      {"sessions_per_s", static_cast<double>(r.sessions) / s},
      {"messages", r.messages},
      {"messages_per_s", static_cast<double>(r.messages) / s},
      {"bytes", r.bytes},
      {"mb_per_s", static_cast<double>(r.bytes) / s / 1e6},
      {"latency_ms",
       {{"per", o.scenario == bench::Scenario::retr   ? "message"
                : o.scenario == bench::Scenario::idle ? "login"
                                                      : "session"},
        {"count", r.latency_ms.size()},
        {"p50", percentile(r.latency_ms, 0.5)},
        {"p99", percentile(r.latency_ms, 0.99)},
        {"p999", percentile(r.latency_ms, 0.999)}}},
      {"error_count", r.error_count()},
      {"errors", r.errors},
      {"bench_cpu_s", r.cpu_seconds},
      {"tls_handshakes", r.tls_handshakes},
      {"tls_resumed", r.tls_resumed},
  };
  if (o.scenario == bench::Scenario::idle) j["idle"] = {{"wanted", o.idle}, {"held", r.idle_held}};
  return j;
}

void print_text(const nlohmann::json& j) {
  const auto& l = j["latency_ms"];
  std::cout << fmt::format(
      "{}: scenario={} connections={} threads={} seconds={:.2f}\n"
      "{}: sessions={} sessions_per_s={:.1f} messages={} messages_per_s={:.1f} bytes={} "
      "MB_per_s={:.1f}\n"
      "{}: latency_ms per {} p50={:.2f} p99={:.2f} p999={:.2f} (n={})\n",
      j["label"].get<std::string>(), j["scenario"].get<std::string>(),
      j["connections"].get<unsigned>(), j["threads"].get<unsigned>(), j["seconds"].get<double>(),
      j["label"].get<std::string>(), j["sessions"].get<std::uint64_t>(),
      j["sessions_per_s"].get<double>(), j["messages"].get<std::uint64_t>(),
      j["messages_per_s"].get<double>(), j["bytes"].get<std::uint64_t>(),
      j["mb_per_s"].get<double>(), j["label"].get<std::string>(), l["per"].get<std::string>(),
      l["p50"].get<double>(), l["p99"].get<double>(), l["p999"].get<double>(),
      l["count"].get<std::size_t>());
  if (j.contains("idle")) {
    std::cout << fmt::format("{}: idle held={} wanted={}\n", j["label"].get<std::string>(),
                             j["idle"]["held"].get<std::uint64_t>(),
                             j["idle"]["wanted"].get<unsigned>());
  }
  if (j["tls"].get<bool>()) {
    std::cout << fmt::format("{}: tls handshakes={} resumed={}\n", j["label"].get<std::string>(),
                             j["tls_handshakes"].get<std::uint64_t>(),
                             j["tls_resumed"].get<std::uint64_t>());
  }
  std::cout << fmt::format("{}: errors={}\n", j["label"].get<std::string>(),
                           j["error_count"].get<std::uint64_t>());
  for (const auto& [reply, n] : j["errors"].items()) {
    std::cout << fmt::format("  {} x{}\n", reply, n.get<std::uint64_t>());
  }
  std::cout << fmt::format("{}: bench_cpu_s={:.2f}\n", j["label"].get<std::string>(),
                           j["bench_cpu_s"].get<double>());
}

}  // namespace

void add_bench(CLI::App& app, int& rc) {
  auto* cmd = app.add_subcommand("bench", bench_help);
  auto o = std::make_shared<bench::LoadOptions>();
  o->threads = std::max(1u, std::thread::hardware_concurrency());
  struct Extra {
    double seconds = 10;
    std::string user, users_file, scenario = "full", label = "server";
    bool json = false;
  };
  auto x = std::make_shared<Extra>();
  cmd->add_option("--host", o->host, "Server address")->capture_default_str();
  cmd->add_option("--port", o->port, "Server port")->required();
  cmd->add_flag("--tls", o->tls, "Implicit TLS (POP3S), no certificate check, resumption on");
  auto* user = cmd->add_option("--user", x->user, "The user every session logs in as");
  auto* users = cmd->add_option("--users", x->users_file,
                                "File of user names, one a line; sessions take them round-robin");
  user->excludes(users);
  users->excludes(user);
  cmd->add_option("--password", o->password, "Password of every user")->required();
  cmd->add_option("--connections", o->connections, "Concurrent sessions (idle: logins in flight)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seconds", x->seconds, "Duration (idle: how long to hold the sessions)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--scenario", x->scenario, "full|login|retr|top|idle")
      ->capture_default_str()
      ->check(CLI::IsMember({"full", "login", "retr", "top", "idle"}));
  cmd->add_option("--idle", o->idle, "idle: sessions to open and hold")->capture_default_str();
  cmd->add_option("--threads", o->threads, "Threads, one io_context each (default: cores)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--label", x->label, "Name printed with the results")->capture_default_str();
  cmd->add_flag("--json", x->json, "Print the results as one JSON object");
  cmd->callback([o, x, &rc] {
    if (x->user.empty() && x->users_file.empty()) {
      throw CLI::ValidationError("bench", "--user or --users is required");
    }
    o->users = x->user.empty() ? read_users(x->users_file) : std::vector{x->user};
    o->scenario = scenarios.at(x->scenario);
    if (o->scenario == bench::Scenario::idle && o->idle == 0) {
      throw CLI::ValidationError("--idle", "the idle scenario needs --idle N (N > 0)");
    }
    o->duration = std::chrono::milliseconds(static_cast<long>(x->seconds * 1000));
    o->on_holding = [](std::uint64_t n) {
      std::cerr << "popbox bench: holding " << n << " sessions" << std::endl;
    };
    bench::raise_fd_limit();  // 10,000 idle sessions need as many descriptors
    bench::LoadResult r;
    try {
      r = bench::run_load(*o);
    } catch (const std::exception& e) {
      std::cerr << "popbox bench: " << e.what() << "\n";
      rc = EX_UNAVAILABLE;
      return;
    }
    nlohmann::json j = to_json(r, *o, x->scenario, x->label);
    if (x->json) {
      std::cout << j.dump() << "\n";
    } else {
      print_text(j);
    }
    bool ok = o->scenario == bench::Scenario::idle ? r.idle_held > 0 : r.sessions > 0;
    rc = ok ? 0 : EX_UNAVAILABLE;
  });
}

}  // namespace popbox::cli
