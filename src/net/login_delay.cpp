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

}  // namespace popbox::net
