#pragma once
// A POP3 load generator for `popbox bench`: concurrent closed-loop sessions
// against any POP3 server (popbox, Dovecot, ...), one io_context per thread,
// measuring what the server delivers under real client traffic.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace popbox::bench {

/// What every session does (see `popbox bench --help`).
enum class Scenario {
  full,   ///< USER PASS STAT UIDL, RETR of every message (pipelined), QUIT
  login,  ///< USER PASS STAT QUIT
  retr,   ///< log in once, then RETR 1 over and over until the time is up
  top,    ///< USER PASS STAT, TOP n 0 of every message (pipelined), QUIT
  idle,   ///< log in `idle` sessions and hold them
};

struct LoadOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 110;
  bool tls = false;                ///< implicit TLS, no certificate check, resumption on
  std::vector<std::string> users;  ///< sessions take them round-robin
  std::string password;
  unsigned connections = 32;                  ///< concurrent sessions (idle: logins in flight)
  unsigned threads = 1;                       ///< io_context threads
  std::chrono::milliseconds duration{10000};  ///< idle: how long to hold
  Scenario scenario = Scenario::full;
  unsigned idle = 0;  ///< idle: sessions to open and hold
  /// idle: called once every session was tried, with how many logged in,
  /// as the hold begins (so a caller can measure the server meanwhile).
  std::function<void(std::uint64_t)> on_holding;
};

struct LoadResult {
  std::uint64_t sessions = 0;   ///< completed (idle: logged in)
  std::uint64_t messages = 0;   ///< RETR/TOP replies received
  std::uint64_t bytes = 0;      ///< their bodies' octets as sent
  std::uint64_t idle_held = 0;  ///< idle: sessions still answering at the end
  std::uint64_t tls_handshakes = 0, tls_resumed = 0;
  std::map<std::string, std::uint64_t> errors;  ///< "STEP: reply or error" -> count
  std::vector<double> latency_ms;  ///< per session (retr: per message; idle: per login)
  double seconds = 0;              ///< wall time of the measured phase
  double cpu_seconds = 0;          ///< the bench's own user + system CPU time
  unsigned threads = 0;            ///< threads used (no more than sessions at once)

  /// Adds another thread's counts to these.
  void merge(LoadResult&& other);
  /// Number of failed sessions (or idle logins).
  std::uint64_t error_count() const;
};

/// Runs the scenario until the duration has passed (idle: until every
/// session was tried and then held for the duration) and reports totals.
LoadResult run_load(const LoadOptions& options);

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft one.
std::uint64_t raise_fd_limit();

}  // namespace popbox::bench
