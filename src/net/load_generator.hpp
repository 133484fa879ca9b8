#pragma once
// A POP3 load generator for `popbox bench`: many concurrent sessions that
// log in, list and retrieve every message (pipelined), and quit. It measures
// what a server under real client traffic delivers, for popbox and Dovecot
// alike.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace popbox::net {

struct LoadOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 110;
  bool tls = false;                    ///< implicit TLS (no certificate check)
  std::string user_format = "user%d";  ///< %d = connection number modulo `users`
  unsigned users = 1;
  std::string password;
  unsigned connections = 10;
  std::chrono::milliseconds duration{10000};
  bool retrieve = true;  ///< RETR every message; otherwise only log in and STAT
};

struct LoadResult {
  std::uint64_t sessions = 0, messages = 0, bytes = 0, errors = 0;
  double seconds = 0;
  std::vector<double> session_ms;  ///< latency of each completed session
  std::string first_error;
};

/// Runs the load until the duration has passed and reports the totals.
LoadResult run_load(const LoadOptions& options);

}  // namespace popbox::net
