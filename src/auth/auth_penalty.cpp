#include "auth/auth_penalty.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace popbox::auth {

std::size_t AuthPenalty::failures_of(Table& t, const std::string& key, clock::time_point now) {
  auto it = t.find(key);
  if (it == t.end()) return 0;
  if (now - it->second.last >= options_.forget_after) {
    t.erase(it);
    return 0;
  }
  return it->second.failures;
}

bool AuthPenalty::is_blocked(const Entry& e, clock::time_point now) const {
  return e.failures >= options_.max_failures_per_ip && now - e.last < options_.block_time;
}

bool AuthPenalty::make_room(Capped& t, clock::time_point now) {
  if (t.entries.size() < t.cap) return true;
  if (now < t.no_room_until) return false;
  std::erase_if(t.entries,
                [&](const auto& kv) { return now - kv.second.last >= options_.forget_after; });
  if (t.entries.size() < t.cap) return true;
  // Still full: evict a batch of the oldest entries (never a blocked
  // address), so the next inserts need no scan.
  std::vector<std::pair<clock::time_point, Table::iterator>> candidates;
  candidates.reserve(t.entries.size());
  clock::time_point first_unblock = clock::time_point::max();
  for (auto it = t.entries.begin(); it != t.entries.end(); ++it) {
    if (t.ips && is_blocked(it->second, now)) {
      first_unblock = std::min(first_unblock, it->second.last + options_.block_time);
      continue;
    }
    candidates.emplace_back(it->second.last, it);
  }
  if (candidates.empty()) {
    t.no_room_until = first_unblock;
    return false;
  }
  const std::size_t n = std::clamp<std::size_t>(options_.evict_batch, 1, candidates.size());
  auto older = [](const auto& a, const auto& b) { return a.first < b.first; };
  std::nth_element(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(n - 1),
                   candidates.end(), older);
  for (std::size_t i = 0; i < n; ++i) t.entries.erase(candidates[i].second);
  return true;
}

void AuthPenalty::add_failure(Capped& t, const std::string& key, clock::time_point now) {
  // A table full of blocked addresses records no new one (memory stays
  // bounded); those addresses are refused anyway.
  if (failures_of(t.entries, key, now) == 0 && !make_room(t, now)) return;
  Entry& e = t.entries[key];
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
  auto it = ips_.entries.find(ip);
  if (it == ips_.entries.end() || it->second.failures < options_.max_failures_per_ip) return false;
  if (now - it->second.last >= options_.block_time) {
    // The block is over; the count starts again from nothing.
    ips_.entries.erase(it);
    return false;
  }
  return true;
}

std::chrono::milliseconds AuthPenalty::failed(const std::string& ip, const std::string& user,
                                              clock::time_point now) {
  std::lock_guard lock(mutex_);
  add_failure(ips_, ip, now);
  add_failure(users_, user, now);
  return delay_for(
      std::max(failures_of(ips_.entries, ip, now), failures_of(users_.entries, user, now)));
}

std::chrono::milliseconds AuthPenalty::succeeded(const std::string& ip, const std::string& user,
                                                 clock::time_point now) {
  std::lock_guard lock(mutex_);
  // Only the address's own failures slow a correct password: counting the
  // user name's too would let anyone delay a user's logins from afar by
  // guessing that user's password.
  const std::size_t n = failures_of(ips_.entries, ip, now);
  users_.entries.erase(user);
  return delay_for(n);
}

std::size_t AuthPenalty::size() const {
  std::lock_guard lock(mutex_);
  return ips_.entries.size() + users_.entries.size();
}

std::size_t AuthPenalty::ip_entries() const {
  std::lock_guard lock(mutex_);
  return ips_.entries.size();
}

}  // namespace popbox::auth
