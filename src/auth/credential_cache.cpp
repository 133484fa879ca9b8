#include "auth/credential_cache.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <list>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>

namespace popbox::auth {

namespace {

using Mac = CredentialCache::Mac;

void wipe(Mac& m) {
  OPENSSL_cleanse(m.data(), m.size());
}

/// Tells caches apart for the per-thread HMAC contexts (never reused, so a
/// context keyed by a cache that is gone is never taken for another's).
std::atomic<std::uint64_t> next_cache_id{1};

/// Each thread's copy of one cache's keyed HMAC: restarting it with the
/// same key costs a quarter of copying the template per use, and threads
/// share nothing on the way.
struct ThreadHmac {
  std::uint64_t owner = 0;
  EVP_MAC_CTX* ctx = nullptr;
  ThreadHmac() = default;
  ThreadHmac(const ThreadHmac&) = delete;
  ThreadHmac& operator=(const ThreadHmac&) = delete;
  ~ThreadHmac() { EVP_MAC_CTX_free(ctx); }  // cleanses the key copy
};
thread_local ThreadHmac thread_hmac;

struct Entry {
  std::string user;
  Mac mac{};
  std::shared_ptr<const UserInfo> info;
  CredentialCache::clock::time_point expires{};
  std::uint64_t generation = 0;
  std::list<Entry*>::iterator by_age;  ///< this entry's place in Shard::by_age

  Entry() = default;
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;
  ~Entry() { wipe(mac); }  // every way out of the table wipes the MAC
};

}  // namespace

/// One lock's worth of the table: entries most recently used first, found
/// through an index whose keys view the entries' own names (list nodes do
/// not move), and the same entries oldest check first, which is soonest to
/// expire (the TTL is the same for all), so expired ones go without a scan.
struct alignas(64) CredentialCache::Shard {
  std::mutex mutex;
  std::list<Entry> lru;
  std::list<Entry*> by_age;
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index;
  std::size_t cap = 0;

  void erase(std::list<Entry>::iterator it) {
    by_age.erase(it->by_age);
    index.erase(it->user);
    lru.erase(it);
  }

  void erase_expired(CredentialCache::clock::time_point now) {
    while (!by_age.empty() && now >= by_age.front()->expires) {
      erase(index.find(by_age.front()->user)->second);
    }
  }
};

/// HMAC-SHA256 keyed once; each thread works on its own copy (ThreadHmac),
/// so threads share only the read-only template.
struct CredentialCache::Hmac {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* keyed = nullptr;

  Hmac() {
    unsigned char key[32];
    if (RAND_bytes(key, sizeof key) != 1) throw std::runtime_error("cannot get random bytes");
    mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    keyed = mac != nullptr ? EVP_MAC_CTX_new(mac) : nullptr;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    const bool ok = keyed != nullptr && EVP_MAC_init(keyed, key, sizeof key, params) == 1;
    OPENSSL_cleanse(key, sizeof key);
    if (!ok) {
      release();
      throw std::runtime_error("cannot set up HMAC-SHA256");
    }
  }
  ~Hmac() { release(); }
  Hmac(const Hmac&) = delete;
  Hmac& operator=(const Hmac&) = delete;

  void release() {
    EVP_MAC_CTX_free(keyed);  // frees (and cleanses) the key
    EVP_MAC_free(mac);
    keyed = nullptr;
    mac = nullptr;
  }
};

CredentialCache::CredentialCache(CredentialCacheOptions options)
    : enabled_(options.ttl.count() > 0 && options.max_entries > 0),
      ttl_(options.ttl),
      id_(next_cache_id.fetch_add(1)),
      hmac_(std::make_unique<Hmac>()) {
  // Fewer shards than entries, so that each shard's share is at least one
  // and the shares add up to exactly max_entries.
  shard_count_ =
      std::clamp<std::size_t>(options.shards, 1, std::max<std::size_t>(options.max_entries, 1));
  shards_ = std::make_unique<Shard[]>(shard_count_);
  for (std::size_t i = 0; i < shard_count_; ++i) {
    shards_[i].cap =
        options.max_entries / shard_count_ + (i < options.max_entries % shard_count_ ? 1 : 0);
  }
}

CredentialCache::~CredentialCache() = default;

std::optional<Mac> CredentialCache::mac(std::string_view user, std::string_view secret) const {
  Mac out{};
  // The user's length first, so that no other (user, secret) split of the
  // same bytes gives the same input.
  const std::uint64_t n = user.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
  std::size_t written = 0;
  ThreadHmac& mine = thread_hmac;
  if (mine.owner != id_) {
    EVP_MAC_CTX_free(mine.ctx);
    mine.ctx = EVP_MAC_CTX_dup(hmac_->keyed);
    mine.owner = mine.ctx != nullptr ? id_ : 0;
  }
  EVP_MAC_CTX* ctx = mine.ctx;
  // A null key restarts the HMAC with the key it has.
  const bool ok =
      ctx != nullptr && EVP_MAC_init(ctx, nullptr, 0, nullptr) == 1 &&
      EVP_MAC_update(ctx, len, sizeof len) == 1 &&
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(user.data()), user.size()) == 1 &&
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(secret.data()), secret.size()) ==
          1 &&
      EVP_MAC_final(ctx, out.data(), &written, out.size()) == 1 && written == out.size();
  if (!ok) {
    wipe(out);
    return std::nullopt;  // out of memory inside OpenSSL
  }
  return out;
}

CredentialCache::Shard& CredentialCache::shard_of(std::string_view user) const {
  return shards_[std::hash<std::string_view>{}(user) % shard_count_];
}

std::shared_ptr<const UserInfo> CredentialCache::find(std::string_view user,
                                                      std::string_view secret,
                                                      clock::time_point now) {
  if (!enabled_) return nullptr;
  std::optional<Mac> m = mac(user, secret);
  if (!m) return nullptr;
  Shard& s = shard_of(user);
  std::shared_ptr<const UserInfo> info;
  {
    std::lock_guard lock(s.mutex);
    auto found = s.index.find(user);
    if (found != s.index.end()) {
      auto it = found->second;
      if (now >= it->expires || it->generation != generation_.load()) {
        s.erase(it);
      } else if (CRYPTO_memcmp(it->mac.data(), m->data(), m->size()) == 0) {
        s.lru.splice(s.lru.begin(), s.lru, it);
        info = it->info;
      }
    }
  }
  wipe(*m);
  return info;
}

void CredentialCache::insert(std::string_view user, std::string_view secret,
                             std::shared_ptr<const UserInfo> info, std::uint64_t generation,
                             clock::time_point now) {
  if (!enabled_ || !info) return;
  std::optional<Mac> m = mac(user, secret);
  if (!m) return;
  Shard& s = shard_of(user);
  std::lock_guard lock(s.mutex);
  // Compared under the shard's lock: drop_all() changes the generation
  // before it clears the shards, so either this sees the new generation or
  // drop_all() clears this entry after.
  if (generation != generation_.load()) {
    wipe(*m);
    return;
  }
  if (auto found = s.index.find(user); found != s.index.end()) s.erase(found->second);
  s.erase_expired(now);
  while (!s.lru.empty() && s.lru.size() >= s.cap) s.erase(std::prev(s.lru.end()));
  Entry& e = s.lru.emplace_front();
  e.user.assign(user);
  e.mac = *m;
  e.info = std::move(info);
  e.expires = now + ttl_;
  e.generation = generation;
  e.by_age = s.by_age.insert(s.by_age.end(), &e);
  s.index.emplace(e.user, s.lru.begin());
  wipe(*m);
}

void CredentialCache::drop_user(std::string_view user) {
  if (!enabled_) return;
  Shard& s = shard_of(user);
  std::lock_guard lock(s.mutex);
  if (auto found = s.index.find(user); found != s.index.end()) s.erase(found->second);
}

void CredentialCache::drop_all() {
  generation_.fetch_add(1);
  for (std::size_t i = 0; i < shard_count_; ++i) {
    Shard& s = shards_[i];
    std::lock_guard lock(s.mutex);
    s.index.clear();
    s.by_age.clear();
    s.lru.clear();
  }
}

void CredentialCache::drop_expired(clock::time_point now) {
  if (!enabled_) return;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    Shard& s = shards_[i];
    std::lock_guard lock(s.mutex);
    s.erase_expired(now);
  }
}

std::size_t CredentialCache::size() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    n += shards_[i].lru.size();
  }
  return n;
}

}  // namespace popbox::auth
