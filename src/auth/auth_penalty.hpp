#pragma once
// Failed-login bookkeeping per client IP (/64) and per user name, like
// Dovecot's auth penalty: every later attempt waits before its answer, the
// wait doubling per failure; an IP with too many failures is refused for a
// while; entries are forgotten after a quiet hour. Pure code with an
// injected clock (no I/O, no timers): the caller sleeps.

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace popbox::auth {

struct AuthPenaltyOptions {
  std::chrono::milliseconds base_delay{2000};  ///< [auth] failure_delay
  std::chrono::milliseconds max_delay{15000};  ///< limits::max_auth_penalty_delay
  std::size_t max_failures_per_ip = 50;        ///< [limits] auth_failures_per_ip
  std::chrono::milliseconds forget_after{std::chrono::hours(1)};
  std::chrono::milliseconds block_time{std::chrono::minutes(15)};
  std::size_t max_entries = 65536;
};

/// Thread-safe table of recent login failures.
class AuthPenalty {
 public:
  using clock = std::chrono::steady_clock;

  explicit AuthPenalty(AuthPenaltyOptions options) : options_(options) {}

  /// True while `ip` has reached max_failures_per_ip: refuse without checking.
  bool blocked(const std::string& ip, clock::time_point now);
  /// Records a failed login of `user` from `ip` and returns how long to wait
  /// before answering it.
  std::chrono::milliseconds failed(const std::string& ip, const std::string& user,
                                   clock::time_point now);
  /// Returns how long to wait before answering a successful login of `user`
  /// from `ip` (earlier failures from `ip` still count, those of the user
  /// name from elsewhere do not); clears the user's own count.
  std::chrono::milliseconds succeeded(const std::string& ip, const std::string& user,
                                      clock::time_point now);
  /// Entries held now (for tests and the eviction bound).
  std::size_t size() const;

 private:
  struct Entry {
    std::size_t failures = 0;
    clock::time_point last{};
  };

  std::size_t failures_of(const std::string& key, clock::time_point now);
  void add_failure(const std::string& key, clock::time_point now);
  void make_room(clock::time_point now);
  std::chrono::milliseconds delay_for(std::size_t failures) const;

  AuthPenaltyOptions options_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;  ///< "ip:" and "user:" keys
};

}  // namespace popbox::auth
