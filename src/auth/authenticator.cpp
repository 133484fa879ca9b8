#include "auth/authenticator.hpp"

#include <openssl/rand.h>
#include <sodium.h>

#include <atomic>
#include <chrono>
#include <stdexcept>

#include "auth/password_scheme.hpp"
#include "auth/scram_fake_secret.hpp"
#include "auth/user_source.hpp"
#include "core/limits.hpp"

namespace popbox::auth {
namespace {

using Clock = std::chrono::steady_clock;

/// How often a verify/lookup may ask the source whether the users changed.
constexpr auto recheck_interval = std::chrono::seconds(1);

/// Used for APOP with unknown users or users without a clear-text password,
/// so the MD5 is computed either way.
constexpr std::string_view apop_dummy = "no user has this password";

/// True when `entry` can log in with some password: unknown schemes and
/// empty password fields never can.
bool can_log_in(const std::optional<UserEntry>& entry) {
  return entry && !entry->password.empty() &&
         scheme_supported(split_scheme(entry->password).scheme);
}

void wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
}

std::string random_key() {
  std::string key(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
    throw std::runtime_error("cannot get random bytes");
  }
  return key;
}

/// Hashed for every SCRAM lookup whose secret is stored, so that all
/// lookups run PBKDF2 once, as those of {PLAIN} users must.
constexpr std::string_view scram_dummy_password = "no user has this password";

}  // namespace

struct Authenticator::State {
  State(std::shared_ptr<UserSource> u, CredentialCacheOptions cache_options)
      : users(std::move(u)), cache(cache_options) {
    if (!users) throw std::invalid_argument("Authenticator needs a user source");
  }

  std::shared_ptr<UserSource> users;
  /// Key for made-up SCRAM salts and keys (HMAC of the user name): random
  /// per process unless set_scram_fake_secret() gave a persistent one.
  std::string fake_key = random_key();
  /// When the source was last asked whether the users changed (read
  /// without a lock by the cache's hot path).
  std::atomic<Clock::rep> last_check{Clock::time_point{}.time_since_epoch().count()};
  /// When a cached login last took on the job of asking the source
  /// (claim_recheck()).
  std::atomic<Clock::rep> recheck_claimed{Clock::time_point{}.time_since_epoch().count()};
  /// Successful password checks of the current users (never APOP or SCRAM).
  CredentialCache cache;

  static Clock::time_point at(Clock::rep r) { return Clock::time_point(Clock::duration(r)); }

  void mark_checked() { last_check = Clock::now().time_since_epoch().count(); }

  /// True for one caller per recheck_interval once the source is due to be
  /// asked (refresh() has not since): that caller calls refresh() before it
  /// trusts the cache, so cached logins notice edited users as soon as full
  /// checks do.
  bool claim_recheck(Clock::time_point now) {
    if (now - at(last_check.load()) < recheck_interval) return false;
    Clock::rep claimed = recheck_claimed.load();
    if (now - at(claimed) < recheck_interval) return false;
    return recheck_claimed.compare_exchange_strong(claimed, now.time_since_epoch().count());
  }

  /// Asks the source whether the users changed, unless someone did within
  /// the last second; empties the cache if they did. The source installs
  /// the new users before it answers, so a check that read the cache's
  /// generation before this drop cannot cache an old password.
  void refresh() {
    const auto now = Clock::now();
    Clock::rep last = last_check.load();
    if (now - at(last) < recheck_interval) return;
    if (!last_check.compare_exchange_strong(last, now.time_since_epoch().count())) return;
    cache.drop_expired(now);
    if (users->refresh()) cache.drop_all();
  }

  /// The entry of `user` from fresh users; `ec` set when the source cannot answer.
  std::optional<UserEntry> find(std::string_view user, std::error_code& ec) {
    refresh();
    ec.clear();
    return users->find(user, ec);
  }
};

Authenticator::Authenticator(std::shared_ptr<UserSource> users,
                             CredentialCacheOptions cache_options)
    : state_(std::make_unique<State>(std::move(users), cache_options)) {}

Authenticator::Authenticator(const std::filesystem::path& passwd_file,
                             CredentialCacheOptions cache_options)
    : Authenticator(make_passwd_file_source(passwd_file.string()), cache_options) {}

Authenticator::~Authenticator() = default;

void Authenticator::load() {
  state_->users->load();
  state_->mark_checked();
  state_->cache.drop_all();
}

std::optional<std::string> Authenticator::reload() {
  // Also when the users cannot be read: the operator asked for a fresh start.
  state_->cache.drop_all();
  auto err = state_->users->reload();
  state_->mark_checked();
  // After the new users are in place (see State::refresh).
  state_->cache.drop_all();
  return err;
}

AuthResult Authenticator::verify_password(std::string_view user, std::string_view password) {
  // Read before the users: a reload after this point keeps the result of
  // this check out of the cache.
  const std::uint64_t generation = state_->cache.generation();
  std::error_code ec;
  const std::optional<UserEntry> entry = state_->find(user, ec);
  if (ec) return AuthResult::temp_failure;
  const bool any = entry && entry->any_password;
  // Users who can never log in (no password, unknown scheme) get the same
  // treatment as unknown ones, so timing does not reveal that they exist.
  if (!any && !can_log_in(entry)) {
    // Same work as for a real user; the answer does not matter.
    (void)auth::verify_password(state_->users->dummy_password(), password);
    state_->cache.drop_user(user);
    return AuthResult::bad_credentials;
  }
  if (!any && !auth::verify_password(entry->password, password)) {
    state_->cache.drop_user(user);
    return AuthResult::bad_credentials;
  }
  if (state_->cache.enabled()) {
    state_->cache.insert(user, password, std::make_shared<const UserInfo>(entry->info), generation,
                         Clock::now());
  }
  return AuthResult::ok;
}

bool Authenticator::cache_enabled() const {
  return state_->cache.enabled();
}

bool Authenticator::claim_recheck() {
  return state_->claim_recheck(Clock::now());
}

void Authenticator::recheck() {
  state_->refresh();
}

std::shared_ptr<const UserInfo> Authenticator::cached_login(std::string_view user,
                                                            std::string_view password) {
  return state_->cache.find(user, password, Clock::now());
}

AuthResult Authenticator::verify_apop(std::string_view user, std::string_view timestamp,
                                      std::string_view digest_hex) {
  std::error_code ec;
  const std::optional<UserEntry> entry = state_->find(user, ec);
  if (ec) return AuthResult::temp_failure;
  std::optional<std::string> plain;
  if (entry) plain = plaintext_password(entry->password);
  if (!plain) {
    (void)verify_apop_digest(apop_dummy, timestamp, digest_hex);
    return AuthResult::bad_credentials;
  }
  const bool ok = verify_apop_digest(*plain, timestamp, digest_hex);
  wipe(*plain);
  return ok ? AuthResult::ok : AuthResult::bad_credentials;
}

void Authenticator::set_scram_fake_secret(const std::string& material) {
  std::string key = derive_scram_fake_key(material);
  wipe(state_->fake_key);
  state_->fake_key = std::move(key);
}

ScramLookup Authenticator::scram_lookup(std::string_view user) {
  std::error_code ec;
  const std::optional<UserEntry> entry = state_->find(user, ec);
  if (ec) return {};
  const std::string& key = state_->fake_key;
  const std::string name(user);
  // Stable for this process and user, so asking twice gives the same salt.
  const std::string salt = hmac_sha256(key, "salt:" + name).substr(0, limits::scram_salt_bytes);
  ScramLookup r;
  r.result = AuthResult::ok;
  if (entry && !entry->password.empty()) {
    const StoredPassword sp = split_scheme(entry->password);
    if (sp.scheme == scram_scheme) {
      if (auto secret = parse_scram_secret(sp.data)) {
        auto dummy = derive_scram_secret(scram_dummy_password, salt, limits::scram_iterations);
        if (dummy) auth::wipe(*dummy);
        r.secret = std::move(*secret);
        return r;
      }
    } else if (auto plain = plaintext_password(entry->password)) {
      auto secret = derive_scram_secret(*plain, salt, limits::scram_iterations);
      wipe(*plain);
      if (secret) {
        r.secret = std::move(*secret);
        return r;
      }
    }
  }
  auto dummy = derive_scram_secret(scram_dummy_password, salt, limits::scram_iterations);
  if (dummy) auth::wipe(*dummy);
  r.secret.iterations = limits::scram_iterations;
  r.secret.salt = salt;
  r.secret.stored_key = hmac_sha256(key, "stored:" + name);
  r.secret.server_key = hmac_sha256(key, "server:" + name);
  return r;
}

std::optional<UserInfo> Authenticator::lookup(std::string_view user, std::error_code& ec) {
  std::optional<UserEntry> entry = state_->find(user, ec);
  if (!entry) return std::nullopt;
  return std::move(entry->info);
}

}  // namespace popbox::auth
