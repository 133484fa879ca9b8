#pragma once
// Failed-login bookkeeping per client IP (/64) and per user name, like
// Dovecot's auth penalty: every later attempt waits before its answer, the
// wait doubling per failure; an IP with too many failures is refused for a
// while; entries are forgotten after a quiet hour. Pure code with an
// injected clock (no I/O, no timers): the caller sleeps.
//
// IPs and user names live in separate, separately capped tables, so a
// stream of made-up user names cannot push addresses out; a blocked address
// is never evicted; a full table evicts its oldest entries in batches, so
// an insert costs O(1) amortised under the mutex.

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
  std::size_t max_ip_entries = 65536;    ///< limits::auth_penalty_entries
  std::size_t max_user_entries = 65536;  ///< limits::auth_penalty_entries
  std::size_t evict_batch = 4096;        ///< limits::auth_penalty_evict_batch
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
  /// Entries held now, IPs and user names (for tests and the eviction bound).
  std::size_t size() const;
  /// IP entries held now (at most max_ip_entries).
  std::size_t ip_entries() const;

 private:
  struct Entry {
    std::size_t failures = 0;
    clock::time_point last{};
  };
  using Table = std::unordered_map<std::string, Entry>;
  struct Capped {
    Table entries;
    std::size_t cap = 0;
    bool ips = false;  ///< blocked entries are never evicted
    /// While all entries are blocked: before this time none can go, so a
    /// full table is not scanned again.
    clock::time_point no_room_until{};
  };

  std::size_t failures_of(Table& t, const std::string& key, clock::time_point now);
  void add_failure(Capped& t, const std::string& key, clock::time_point now);
  bool make_room(Capped& t, clock::time_point now);
  bool is_blocked(const Entry& e, clock::time_point now) const;
  std::chrono::milliseconds delay_for(std::size_t failures) const;

  AuthPenaltyOptions options_;
  mutable std::mutex mutex_;
  Capped ips_{{}, options_.max_ip_entries, true, {}};
  Capped users_{{}, options_.max_user_entries, false, {}};
};

}  // namespace popbox::auth
