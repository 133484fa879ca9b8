#pragma once
// What every connection of one server shares: config, users, mail store,
// the blocking pool, the password-hashing pool, the TLS context, the
// failed-login penalty table and the global and per-IP counters.

#include <asio/thread_pool.hpp>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "auth/auth_penalty.hpp"
#include "auth/authenticator.hpp"
#include "auth/oauth_validator.hpp"
#include "config/config.hpp"
#include "core/limits.hpp"
#include "net/blocking.hpp"
#include "net/pop3_hooks.hpp"
#include "net/tls_context.hpp"
#include "store/mailbox.hpp"

namespace popbox::net {

/// Remembers the last login per user to enforce LOGIN-DELAY (RFC 2449).
class LoginDelayTracker {
 public:
  /// True (and records now) if `user` may log in now.
  bool admit(const std::string& user, std::chrono::seconds delay);

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> last_;
};

/// Counts things (connections, password checks) per client key with a cap.
class PerIpCounter {
 public:
  /// Counts one more for `key` and returns true, unless it already has `max`.
  bool acquire(const std::string& key, std::size_t max);
  /// Gives back what acquire() counted.
  void release(const std::string& key);

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> counts_;
};

/// A slot taken from a PerIpCounter, given back when it goes away.
class IpSlot {
 public:
  IpSlot() = default;
  IpSlot(PerIpCounter& counter, std::string key, std::size_t max)
      : counter_(&counter), key_(std::move(key)) {
    if (!counter_->acquire(key_, max)) counter_ = nullptr;
  }
  IpSlot(IpSlot&& o) noexcept : counter_(std::exchange(o.counter_, nullptr)), key_(o.key_) {}
  IpSlot& operator=(IpSlot&&) = delete;
  ~IpSlot() {
    if (counter_) counter_->release(key_);
  }
  /// True if the slot was granted.
  explicit operator bool() const { return counter_ != nullptr; }

 private:
  PerIpCounter* counter_ = nullptr;
  std::string key_;
};

/// The penalty options the config asks for.
inline auth::AuthPenaltyOptions penalty_options(const config::Config& cfg) {
  auth::AuthPenaltyOptions o;
  o.base_delay = cfg.auth.failure_delay;
  o.max_delay = limits::max_auth_penalty_delay;
  o.max_failures_per_ip = cfg.limits.auth_failures_per_ip;
  o.forget_after = limits::auth_penalty_forget;
  o.block_time = limits::auth_block_time;
  o.max_ip_entries = limits::auth_penalty_entries;
  o.max_user_entries = limits::auth_penalty_entries;
  o.evict_batch = limits::auth_penalty_evict_batch;
  return o;
}

/// The verified-credentials cache the config asks for ([auth] cache_ttl,
/// cache_size).
inline auth::CredentialCacheOptions credential_cache_options(const config::Config& cfg) {
  return {cfg.auth.cache_ttl, cfg.auth.cache_size, limits::credential_cache_shards};
}

struct ServerState {
  ServerState(config::Config c, std::shared_ptr<store::Store> s,
              std::shared_ptr<auth::UserSource> users, unsigned pool_threads)
      : cfg(std::move(c)),
        auth(std::move(users), credential_cache_options(cfg)),
        store(std::move(s)),
        pool(pool_threads),
        auth_pool(limits::auth_threads),
        penalty(penalty_options(cfg)) {
    if (const auto& o = cfg.auth.oauth) {
      oauth = std::make_unique<auth::OAuthService>(
          auth::OAuthPolicy{o->issuer, o->audience, o->user_claim}, o->public_keys, o->jwks_file);
    }
  }

  config::Config cfg;
  auth::Authenticator auth;                   ///< on the UserSource the server was given
  std::unique_ptr<auth::OAuthService> oauth;  ///< null without [auth.oauth]; load() at start
  std::shared_ptr<store::Store> store;        ///< the one seam to the mail (any backend)
  BlockingPool pool;                          ///< blocking mail work: scans, file reads, commits
  BlockingPool auth_pool;                     ///< password verification only (limits::auth_threads)
  TlsContextHolder tls;
  LoginDelayTracker login_delay;
  auth::AuthPenalty penalty;                     ///< failed logins per IP and user
  PerIpCounter pop3_per_ip;                      ///< POP3 connections per client key
  PerIpCounter auth_per_ip;                      ///< password checks in flight per client key
  std::atomic<std::size_t> auth_queued{0};       ///< password checks in flight in all
  std::atomic<std::size_t> connections{0};       ///< POP3 and POP3S
  std::atomic<std::size_t> lmtp_connections{0};  ///< LMTP, a budget of its own
  std::atomic<std::uint64_t> next_session_id{1};
  std::atomic<bool> stopping{false};
  std::shared_ptr<Pop3Hooks> hooks;  ///< null in `popbox serve`; set before run()
};

}  // namespace popbox::net
