#pragma once
// What every connection of one server shares: config, users, mail store,
// the blocking pool, the TLS context and global counters.

#include <asio/thread_pool.hpp>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

#include "auth/authenticator.hpp"
#include "auth/oauth_validator.hpp"
#include "config/config.hpp"
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

struct ServerState {
  ServerState(config::Config c, std::unique_ptr<store::Store> s, unsigned pool_threads)
      : cfg(std::move(c)), auth(cfg.auth.passwd_file), store(std::move(s)), pool(pool_threads) {
    if (const auto& o = cfg.auth.oauth) {
      oauth = std::make_unique<auth::OAuthService>(
          auth::OAuthPolicy{o->issuer, o->audience, o->user_claim}, o->public_keys, o->jwks_file);
    }
  }

  config::Config cfg;
  auth::Authenticator auth;
  std::unique_ptr<auth::OAuthService> oauth;  ///< null without [auth.oauth]; load() at start
  std::unique_ptr<store::Store> store;
  asio::thread_pool pool;  ///< blocking work: hashing, scans, file reads, commits
  TlsContextHolder tls;
  LoginDelayTracker login_delay;
  std::atomic<std::size_t> connections{0};
  std::atomic<std::uint64_t> next_session_id{1};
  std::atomic<bool> stopping{false};
};

}  // namespace popbox::net
