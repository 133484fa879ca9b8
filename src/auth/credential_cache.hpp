#pragma once
// Verified credentials, remembered for a while so that a repeat login with
// the same password needs no password hash (like Dovecot's auth_cache).
//
// An entry is found by the user name and matches only the keyed hash
// (HMAC-SHA256 under a random key made per cache, so per process) of that
// user and the secret that was verified: the secret itself is never stored,
// and the hash is useless outside this process. Only successful checks are
// stored. Entries go when they expire (a fixed time after the check, hits
// do not extend it), when the user fails a login, when everything is
// dropped (the user database changed), and least recently used first when
// the table is full; every MAC is wiped when its entry goes.
//
// Thread-safe and cheap enough for event threads: one HMAC (~0.3 us, on a
// per-thread context) outside any lock, then a short critical section in one of several shards
// chosen by the user name, so threads rarely meet on a lock. Pure code: the clock is a parameter.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "auth/user_info.hpp"

namespace popbox::auth {

struct CredentialCacheOptions {
  std::chrono::milliseconds ttl{std::chrono::minutes(5)};  ///< [auth] cache_ttl; 0 = off
  std::size_t max_entries = 100000;                        ///< [auth] cache_size; 0 = off
  std::size_t shards = 64;                                 ///< limits::credential_cache_shards
};

/// Options that store nothing (a cache that is off).
inline CredentialCacheOptions no_credential_cache() {
  return CredentialCacheOptions{std::chrono::milliseconds(0), 0, 1};
}

/// Thread-safe table of recently verified (user, secret) pairs.
class CredentialCache {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr std::size_t mac_size = 32;  ///< HMAC-SHA256
  using Mac = std::array<unsigned char, mac_size>;

  /// A cache with a fresh random key; throws std::runtime_error if OpenSSL
  /// gives no random bytes or no HMAC.
  explicit CredentialCache(CredentialCacheOptions options);
  ~CredentialCache();
  CredentialCache(const CredentialCache&) = delete;
  CredentialCache& operator=(const CredentialCache&) = delete;

  /// False when cache_ttl or cache_size is 0: then nothing is ever stored.
  bool enabled() const { return enabled_; }

  /// The keyed hash that stands for `secret` of `user` in this cache: the
  /// same for the same pair in this cache only, never containing the secret;
  /// nullopt if OpenSSL fails (out of memory).
  std::optional<Mac> mac(std::string_view user, std::string_view secret) const;

  /// Changes on every drop_all(); read it before a check and pass it to
  /// insert(), so a check that raced with a drop is not remembered.
  std::uint64_t generation() const { return generation_.load(); }

  /// What insert() stored for `user` if `secret` is the secret verified then
  /// (compared in constant time), the entry has not expired and nothing
  /// dropped it; null otherwise. A hit makes the entry most recently used.
  std::shared_ptr<const UserInfo> find(std::string_view user, std::string_view secret,
                                       clock::time_point now);

  /// Remembers that `secret` is right for `user` until now + ttl, replacing
  /// the user's earlier entry, unless drop_all() ran since `generation` was
  /// read. A full table first drops its least recently used entry.
  void insert(std::string_view user, std::string_view secret, std::shared_ptr<const UserInfo> info,
              std::uint64_t generation, clock::time_point now);

  /// Forgets `user`'s entry (a failed login for that user).
  void drop_user(std::string_view user);
  /// Forgets every entry (the user database was read again).
  void drop_all();
  /// Forgets the entries that expired by `now` (they are misses already;
  /// this frees them and wipes their MACs). Costs what it removes, not what
  /// the table holds.
  void drop_expired(clock::time_point now);

  /// Entries held now (at most cache_size).
  std::size_t size() const;

 private:
  struct Shard;
  Shard& shard_of(std::string_view user) const;

  bool enabled_ = false;
  std::chrono::milliseconds ttl_{0};
  std::uint64_t id_ = 0;  ///< tells this cache's per-thread HMAC contexts apart
  std::size_t shard_count_ = 1;
  std::unique_ptr<Shard[]> shards_;
  std::atomic<std::uint64_t> generation_{0};
  struct Hmac;
  std::unique_ptr<Hmac> hmac_;  ///< the keyed HMAC, ready to copy per use
};

}  // namespace popbox::auth
