#include "sandbox/api/parse_cache.hpp"

namespace popbox::sandbox::api {

namespace {

std::string key_of(std::string_view inbox_id, std::string_view message_id) {
  std::string k(inbox_id);
  k.push_back('/');
  k.append(message_id);
  return k;
}

}  // namespace

std::shared_ptr<const mime::Parsed> ParseCache::get(std::string_view inbox_id,
                                                    std::string_view message_id,
                                                    std::error_code& ec) {
  const std::string key = key_of(inbox_id, message_id);
  {
    std::lock_guard lock(mutex_);
    if (auto it = index_.find(key); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->second;
    }
  }
  std::string raw;
  ec = hub_.raw(inbox_id, message_id, raw);
  if (ec) return nullptr;
  auto parsed = std::make_shared<const mime::Parsed>(mime::parse(raw));
  std::lock_guard lock(mutex_);
  if (index_.count(key) == 0) {
    lru_.emplace_front(key, parsed);
    index_[key] = lru_.begin();
    while (lru_.size() > capacity_) {
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }
  return parsed;
}

void ParseCache::erase(std::string_view inbox_id, std::string_view message_id) {
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(key_of(inbox_id, message_id)); it != index_.end()) {
    lru_.erase(it->second);
    index_.erase(it);
  }
}

void ParseCache::erase_inbox(std::string_view inbox_id) {
  const std::string prefix = key_of(inbox_id, "");
  std::lock_guard lock(mutex_);
  for (auto it = lru_.begin(); it != lru_.end();) {
    if (it->first.compare(0, prefix.size(), prefix) == 0) {
      index_.erase(it->first);
      it = lru_.erase(it);
    } else {
      ++it;
    }
  }
}

std::size_t ParseCache::size() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

}  // namespace popbox::sandbox::api
