#include "auth/auth_penalty.hpp"

#include <algorithm>

namespace popbox::auth {
namespace {

std::string ip_key(const std::string& ip) {
  return "ip:" + ip;
}
std::string user_key(const std::string& user) {
  return "user:" + user;
}

}  // namespace

std::size_t AuthPenalty::failures_of(const std::string& key, clock::time_point now) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return 0;
  if (now - it->second.last >= options_.forget_after) {
    entries_.erase(it);
    return 0;
  }
  return it->second.failures;
}

void AuthPenalty::make_room(clock::time_point now) {
  if (entries_.size() < options_.max_entries) return;
  std::erase_if(entries_,
                [&](const auto& kv) { return now - kv.second.last >= options_.forget_after; });
  if (entries_.size() < options_.max_entries) return;
  // Still full: evict the entry whose last failure is oldest.
  auto oldest =
      std::min_element(entries_.begin(), entries_.end(),
                       [](const auto& a, const auto& b) { return a.second.last < b.second.last; });
  entries_.erase(oldest);
}

void AuthPenalty::add_failure(const std::string& key, clock::time_point now) {
  if (failures_of(key, now) == 0) make_room(now);
  Entry& e = entries_[key];
  ++e.failures;
  e.last = now;
}

std::chrono::milliseconds AuthPenalty::delay_for(std::size_t failures) const {
  if (failures == 0) return std::chrono::milliseconds(0);
  auto d = options_.base_delay;
  for (std::size_t i = 1; i < failures && d < options_.max_delay; ++i) d *= 2;
  return std::min(d, options_.max_delay);
}

bool AuthPenalty::blocked(const std::string& ip, clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(ip_key(ip));
  if (it == entries_.end() || it->second.failures < options_.max_failures_per_ip) return false;
  if (now - it->second.last >= options_.block_time) {
    // The block is over; the count starts again from nothing.
    entries_.erase(it);
    return false;
  }
  return true;
}

std::chrono::milliseconds AuthPenalty::failed(const std::string& ip, const std::string& user,
                                              clock::time_point now) {
  std::lock_guard lock(mutex_);
  add_failure(ip_key(ip), now);
  add_failure(user_key(user), now);
  return delay_for(std::max(failures_of(ip_key(ip), now), failures_of(user_key(user), now)));
}

std::chrono::milliseconds AuthPenalty::succeeded(const std::string& ip, const std::string& user,
                                                 clock::time_point now) {
  std::lock_guard lock(mutex_);
  // Only the address's own failures slow a correct password: counting the
  // user name's too would let anyone delay a user's logins from afar by
  // guessing that user's password.
  const std::size_t n = failures_of(ip_key(ip), now);
  entries_.erase(user_key(user));
  return delay_for(n);
}

std::size_t AuthPenalty::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace popbox::auth
