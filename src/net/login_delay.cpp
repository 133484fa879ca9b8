#include "net/server_state.hpp"

namespace popbox::net {

bool LoginDelayTracker::admit(const std::string& user, std::chrono::seconds delay) {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  auto [it, inserted] = last_.try_emplace(user, now);
  if (inserted) return true;
  if (now - it->second < delay) return false;
  it->second = now;
  return true;
}

bool PerIpCounter::acquire(const std::string& key, std::size_t max) {
  std::lock_guard lock(mutex_);
  std::size_t& n = counts_[key];
  if (n >= max) {
    if (n == 0) counts_.erase(key);
    return false;
  }
  ++n;
  return true;
}

void PerIpCounter::release(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = counts_.find(key);
  if (it == counts_.end()) return;
  if (--it->second == 0) counts_.erase(it);
}

}  // namespace popbox::net
