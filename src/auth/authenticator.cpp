#include "auth/authenticator.hpp"

#include <openssl/rand.h>
#include <sodium.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>

#include "auth/passwd_file.hpp"
#include "auth/password_scheme.hpp"
#include "auth/scram_fake_secret.hpp"
#include "core/limits.hpp"

namespace popbox::auth {
namespace {

using Clock = std::chrono::steady_clock;

/// How often a verify/lookup may stat the file to notice edits.
constexpr auto recheck_interval = std::chrono::seconds(1);

/// Verified for unknown users while the file has no users to imitate; it
/// costs what hash_password() output costs (Argon2id, interactive limits).
constexpr std::string_view default_dummy =
    "{ARGON2ID}$argon2id$v=19$m=65536,t=2,p=1$opqlCH3encCy40FlGtuWWQ$Fr/"
    "rMg45sVcbNdPGG8ROb/HpKFh/g7DhKKXOeHkYj4o";

/// Used for APOP with unknown users or users without a clear-text password,
/// so the MD5 is computed either way.
constexpr std::string_view apop_dummy = "no user has this password";

/// What identifies one version of the file on disk.
struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  std::int64_t mtime_sec = 0;
  long mtime_nsec = 0;
  bool operator==(const FileId&) const = default;
};

std::optional<FileId> file_id(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileId{st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
}

struct Snapshot {
  PasswdFile file;
  std::string dummy;  ///< stored password checked for unknown users
  std::optional<FileId> id;
};

/// A dummy as costly as the passwords most users have, so that an unknown
/// name takes as long as the typical known one. Users whose scheme differs
/// from the majority remain distinguishable from each other; no dummy can
/// fix that, only uniform hashing can.
std::string pick_dummy(const PasswdFile& file) {
  std::map<std::string, std::pair<std::size_t, const PasswdEntry*>> classes;
  const PasswdEntry* best = nullptr;
  std::size_t best_count = 0;
  for (const PasswdEntry& e : file.entries()) {
    if (e.password.empty()) continue;
    const std::string cls = cost_class(e.password);
    if (cls == "unknown") continue;
    auto& [count, first] = classes[cls];
    if (count++ == 0) first = &e;
    if (count > best_count) {
      best_count = count;
      best = first;
    }
  }
  return best != nullptr ? dummy_hash_like(best->password) : std::string(default_dummy);
}

std::shared_ptr<const Snapshot> read_snapshot(const std::filesystem::path& path) {
  auto snap = std::make_shared<Snapshot>();
  // Identify the file before reading it: if it changes in between, the next
  // check sees a newer id and reads it again.
  snap->id = file_id(path);
  snap->file = PasswdFile::load(path);
  snap->dummy = pick_dummy(snap->file);
  return snap;
}

UserInfo user_info(const PasswdEntry& e) {
  return UserInfo{e.user, e.uid, e.gid, e.home, e.extra};
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
  explicit State(CredentialCacheOptions cache_options) : cache(cache_options) {}

  std::filesystem::path path;
  /// Key for made-up SCRAM salts and keys (HMAC of the user name): random
  /// per process unless set_scram_fake_secret() gave a persistent one.
  std::string fake_key = random_key();
  std::mutex mutex;  ///< guards current; held only briefly
  std::shared_ptr<const Snapshot> current;
  /// When get() last looked at the file (written under `mutex`, read
  /// without it by the cache's hot path).
  std::atomic<Clock::rep> last_check{Clock::time_point{}.time_since_epoch().count()};
  /// When a cached login last took on the job of looking at the file
  /// (claim_recheck()).
  std::atomic<Clock::rep> recheck_claimed{Clock::time_point{}.time_since_epoch().count()};
  /// Serialises reads of the file, which are slow (dummy hashing); verifies
  /// keep using the old snapshot meanwhile.
  std::mutex reload_mutex;
  /// Successful password checks of the current users (never APOP or SCRAM).
  CredentialCache cache;

  static Clock::time_point at(Clock::rep r) { return Clock::time_point(Clock::duration(r)); }

  void install(std::shared_ptr<const Snapshot> snap) {
    {
      std::lock_guard lock(mutex);
      current = std::move(snap);
      last_check = Clock::now().time_since_epoch().count();
    }
    // After the new users are in place: a check that read the generation
    // after this drop also sees the new users (see CredentialCache::insert).
    cache.drop_all();
  }

  /// True for one caller per recheck_interval once the file is due to be
  /// looked at (get() has not since): that caller calls get() before it
  /// trusts the cache, so cached logins notice an edited file as soon as
  /// full checks do.
  bool claim_recheck(Clock::time_point now) {
    if (now - at(last_check.load()) < recheck_interval) return false;
    Clock::rep claimed = recheck_claimed.load();
    if (now - at(claimed) < recheck_interval) return false;
    return recheck_claimed.compare_exchange_strong(claimed, now.time_since_epoch().count());
  }

  /// The current users, rereading the file first if it changed on disk and
  /// was not checked within the last second. Null if it was never readable.
  std::shared_ptr<const Snapshot> get() {
    std::shared_ptr<const Snapshot> cur;
    const auto now = Clock::now();
    {
      std::lock_guard lock(mutex);
      cur = current;
      if (now - at(last_check.load()) < recheck_interval) return cur;
      last_check = now.time_since_epoch().count();
    }
    cache.drop_expired(now);
    const auto id = file_id(path);
    if (cur && (!id || id == cur->id)) return cur;  // unchanged, or gone: keep what we have
    std::lock_guard reload_lock(reload_mutex);
    {
      // Another thread may have reloaded while we waited for the lock.
      std::lock_guard lock(mutex);
      if (current != cur) return current;
    }
    try {
      auto snap = read_snapshot(path);
      install(snap);
      return snap;
    } catch (const std::exception&) {
      // Keep serving the old users; reload() reports the error to whoever asks.
      return cur;
    }
  }
};

Authenticator::Authenticator(std::filesystem::path passwd_file,
                             CredentialCacheOptions cache_options)
    : state_(std::make_unique<State>(cache_options)) {
  state_->path = std::move(passwd_file);
}

Authenticator::~Authenticator() = default;

void Authenticator::load() {
  std::lock_guard reload_lock(state_->reload_mutex);
  state_->install(read_snapshot(state_->path));
}

std::optional<std::string> Authenticator::reload() {
  // Also when the file cannot be read: the operator asked for a fresh start.
  state_->cache.drop_all();
  try {
    load();
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

AuthResult Authenticator::verify_password(std::string_view user, std::string_view password) {
  // Read before the users: a reload after this point keeps the result of
  // this check out of the cache.
  const std::uint64_t generation = state_->cache.generation();
  const auto snap = state_->get();
  if (!snap) return AuthResult::temp_failure;
  const PasswdEntry* entry = snap->file.find(user);
  // Users who can never log in (no password, unknown scheme) get the same
  // treatment as unknown ones, so timing does not reveal that they exist.
  if (entry == nullptr || entry->password.empty() ||
      !scheme_supported(split_scheme(entry->password).scheme)) {
    // Same work as for a real user; the answer does not matter.
    (void)auth::verify_password(snap->dummy, password);
    state_->cache.drop_user(user);
    return AuthResult::bad_credentials;
  }
  if (!auth::verify_password(entry->password, password)) {
    state_->cache.drop_user(user);
    return AuthResult::bad_credentials;
  }
  if (state_->cache.enabled()) {
    state_->cache.insert(user, password, std::make_shared<const UserInfo>(user_info(*entry)),
                         generation, Clock::now());
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
  (void)state_->get();
}

std::shared_ptr<const UserInfo> Authenticator::cached_login(std::string_view user,
                                                            std::string_view password) {
  return state_->cache.find(user, password, Clock::now());
}

AuthResult Authenticator::verify_apop(std::string_view user, std::string_view timestamp,
                                      std::string_view digest_hex) {
  const auto snap = state_->get();
  if (!snap) return AuthResult::temp_failure;
  const PasswdEntry* entry = snap->file.find(user);
  std::optional<std::string> plain;
  if (entry != nullptr) plain = plaintext_password(entry->password);
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
  const auto snap = state_->get();
  if (!snap) return {};
  const std::string& key = state_->fake_key;
  const std::string name(user);
  // Stable for this process and user, so asking twice gives the same salt.
  const std::string salt = hmac_sha256(key, "salt:" + name).substr(0, limits::scram_salt_bytes);
  ScramLookup r;
  r.result = AuthResult::ok;
  const PasswdEntry* entry = snap->file.find(user);
  if (entry != nullptr && !entry->password.empty()) {
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

std::optional<UserInfo> Authenticator::lookup(std::string_view user) {
  const auto snap = state_->get();
  if (!snap) return std::nullopt;
  const PasswdEntry* e = snap->file.find(user);
  if (e == nullptr) return std::nullopt;
  return user_info(*e);
}

}  // namespace popbox::auth
