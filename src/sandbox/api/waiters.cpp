#include "sandbox/api/waiters.hpp"

#include <algorithm>
#include <asio/post.hpp>

#include "core/limits.hpp"

namespace popbox::sandbox::api {

namespace {

bool search(const std::regex& re, const std::string& text) {
  const std::size_t n = std::min(text.size(), limits::sandbox_match_input);
  return std::regex_search(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(n), re);
}

}  // namespace

std::optional<std::regex> compile_pattern(const std::string& pattern, std::string& error) {
  if (pattern.size() > limits::sandbox_max_pattern) {
    error = "pattern longer than " + std::to_string(limits::sandbox_max_pattern) + " characters";
    return std::nullopt;
  }
  try {
    return std::regex(pattern, std::regex::ECMAScript | std::regex::icase);
  } catch (const std::regex_error& e) {
    error = std::string("invalid pattern: ") + e.what();
    return std::nullopt;
  }
}

bool matches(const WaitCriteria& c, const mime::Parsed& p) {
  try {
    if (c.subject && !search(*c.subject, p.subject)) return false;
    if (c.from) {
      if (!p.from) return false;
      if (!search(*c.from, p.from->address) && !search(*c.from, p.from->name)) return false;
    }
    if (c.body && !search(*c.body, p.body_text())) return false;
  } catch (const std::regex_error&) {
    return false;  // error_complexity / error_stack: no match, never a crash
  }
  return true;
}

void Waiter::offer(const MessageInfo& info, const mime::Parsed& parsed) {
  {
    std::lock_guard lock(mutex_);
    if (hits_.size() >= criteria_.count) return;
    if (std::find(ids_.begin(), ids_.end(), info.id) != ids_.end()) return;
  }
  if (!matches(criteria_, parsed)) return;
  bool now_done = false;
  {
    std::lock_guard lock(mutex_);
    if (hits_.size() >= criteria_.count) return;
    if (std::find(ids_.begin(), ids_.end(), info.id) != ids_.end()) return;
    ids_.push_back(info.id);
    hits_.emplace_back(info.seq, summary_json(info, parsed));
    now_done = hits_.size() >= criteria_.count;
  }
  if (now_done) wake();
}

bool Waiter::done() const {
  std::lock_guard lock(mutex_);
  return hits_.size() >= criteria_.count;
}

std::size_t Waiter::matched() const {
  std::lock_guard lock(mutex_);
  return hits_.size();
}

json Waiter::result() const {
  std::lock_guard lock(mutex_);
  auto hits = hits_;
  std::sort(hits.begin(), hits.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  json list = json::array();
  for (std::size_t i = 0; i < hits.size() && i < criteria_.count; ++i)
    list.push_back(hits[i].second);
  return json{{"messages", std::move(list)}};
}

void Waiter::wake() {
  asio::post(timer_.get_executor(), [self = shared_from_this()] { self->timer_.cancel(); });
}

void WaitRegistry::add(const std::shared_ptr<Waiter>& w) {
  std::lock_guard lock(mutex_);
  by_inbox_[w->inbox_id()].push_back(w);
  ++count_;
}

void WaitRegistry::remove(const std::shared_ptr<Waiter>& w) {
  std::lock_guard lock(mutex_);
  auto it = by_inbox_.find(w->inbox_id());
  if (it == by_inbox_.end()) return;
  auto& v = it->second;
  const auto pos = std::find(v.begin(), v.end(), w);
  if (pos == v.end()) return;
  *pos = std::move(v.back());
  v.pop_back();
  --count_;
  if (v.empty()) by_inbox_.erase(it);
}

void WaitRegistry::offer(const MessageInfo& info, const mime::Parsed& parsed) {
  std::vector<std::shared_ptr<Waiter>> targets;
  {
    std::lock_guard lock(mutex_);
    auto it = by_inbox_.find(info.inbox_id);
    if (it == by_inbox_.end()) return;
    targets = it->second;
  }
  for (const auto& w : targets) w->offer(info, parsed);
}

void WaitRegistry::wake_all() {
  std::lock_guard lock(mutex_);
  for (auto& [_, v] : by_inbox_) {
    for (auto& w : v) w->wake();
  }
}

std::size_t WaitRegistry::size() const {
  std::lock_guard lock(mutex_);
  return count_;
}

}  // namespace popbox::sandbox::api
