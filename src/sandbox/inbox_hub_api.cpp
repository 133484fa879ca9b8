// InboxHub: the Hub calls, delivery and expiry (loading, retention and the
// order of events and writes are in inbox_hub.cpp).
#include <openssl/crypto.h>

#include <algorithm>

#include "core/limits.hpp"
#include "sandbox/fault_plan.hpp"
#include "sandbox/inbox_hub.hpp"

namespace popbox::sandbox {
namespace {

std::error_code not_found() {
  return std::make_error_code(std::errc::no_such_file_or_directory);
}
std::error_code invalid() {
  return std::make_error_code(std::errc::invalid_argument);
}

}  // namespace

std::error_code InboxHub::create_inbox(const InboxSpec& spec, InboxInfo& out) {
  auto address = detail::normalize_address(spec.address);
  if (!address) return invalid();
  if (spec.password && spec.password->size() > limits::sandbox_max_password) return invalid();
  if (spec.ttl && spec.ttl->count() <= 0) return invalid();
  std::unique_lock lock(mutex_);
  if (by_address_.count(*address)) return std::make_error_code(std::errc::file_exists);
  Pending p;
  detail::Inbox& inbox = make_inbox_locked(*address, false, p);
  inbox.password = spec.password;
  inbox.info.has_password = spec.password.has_value();
  if (spec.ttl) inbox.info.expires = inbox.info.created + *spec.ttl;
  if (spec.max_messages) inbox.info.max_messages = *spec.max_messages;
  touch_locked(inbox, p);
  out = inbox.info;
  finish(lock, p);
  return {};
}

std::vector<InboxInfo> InboxHub::inboxes() const {
  std::lock_guard lock(mutex_);
  std::vector<InboxInfo> out;
  for (const auto& [id, inbox] : by_id_) out.push_back(inbox.info);
  std::sort(out.begin(), out.end(), [](const InboxInfo& a, const InboxInfo& b) {
    return a.created != b.created ? a.created < b.created : a.id < b.id;
  });
  return out;
}

std::optional<InboxInfo> InboxHub::inbox(std::string_view id) const {
  std::lock_guard lock(mutex_);
  const detail::Inbox* inbox = find_locked(id);
  if (inbox == nullptr) return std::nullopt;
  return inbox->info;
}

std::optional<InboxInfo> InboxHub::inbox_by_address(std::string_view address) const {
  auto normal = detail::normalize_address(address);
  if (!normal) return std::nullopt;
  std::lock_guard lock(mutex_);
  auto it = by_address_.find(*normal);
  if (it == by_address_.end()) return std::nullopt;
  return find_locked(it->second)->info;
}

std::error_code InboxHub::delete_inbox(std::string_view id) {
  std::unique_lock lock(mutex_);
  if (find_locked(id) == nullptr) return not_found();
  Pending p;
  remove_inbox_locked(std::string(id), Event::Kind::inbox_deleted, p);
  finish(lock, p);
  return {};
}

std::error_code InboxHub::clear_inbox(std::string_view id) {
  std::unique_lock lock(mutex_);
  detail::Inbox* inbox = find_locked(id);
  if (inbox == nullptr) return not_found();
  Pending p;
  for (const auto& m : inbox->messages) {
    order_.erase(m.seq);
    total_bytes_ -= m.size;
    p.removals.push_back({inbox->info.id, m.id});
  }
  inbox->messages.clear();
  touch_locked(*inbox, p);
  p.events.push_back({Event::Kind::inbox_cleared, inbox->info.id, "", 0});
  finish(lock, p);
  return {};
}

std::vector<MessageInfo> InboxHub::messages(std::string_view inbox_id, std::size_t offset,
                                            std::size_t limit, std::size_t& total) const {
  std::lock_guard lock(mutex_);
  std::vector<MessageInfo> out;
  total = 0;
  const detail::Inbox* inbox = find_locked(inbox_id);
  if (inbox == nullptr) return out;
  total = inbox->messages.size();
  for (auto it = inbox->messages.rbegin(); it != inbox->messages.rend() && out.size() < limit;
       ++it) {
    if (offset > 0) {
      --offset;
      continue;
    }
    out.push_back(*it);
  }
  return out;
}

std::optional<MessageInfo> InboxHub::message(std::string_view inbox_id,
                                             std::string_view message_id) const {
  std::lock_guard lock(mutex_);
  const detail::Inbox* inbox = find_locked(inbox_id);
  if (inbox == nullptr) return std::nullopt;
  for (const auto& m : inbox->messages) {
    if (m.id == message_id) return m;
  }
  return std::nullopt;
}

std::error_code InboxHub::raw(std::string_view inbox_id, std::string_view message_id,
                              std::string& out) const {
  if (!message(inbox_id, message_id)) return not_found();
  return storage_->get(inbox_id, message_id, out);
}

std::error_code InboxHub::delete_message(std::string_view inbox_id, std::string_view message_id) {
  std::unique_lock lock(mutex_);
  detail::Inbox* inbox = find_locked(inbox_id);
  if (inbox == nullptr) return not_found();
  for (std::size_t i = 0; i < inbox->messages.size(); ++i) {
    if (inbox->messages[i].id != message_id) continue;
    Pending p;
    drop_message_locked(*inbox, i, p);
    finish(lock, p);
    return {};
  }
  return not_found();
}

std::error_code InboxHub::mark_read(std::string_view inbox_id, std::string_view message_id,
                                    bool read) {
  std::unique_lock lock(mutex_);
  detail::Inbox* inbox = find_locked(inbox_id);
  MessageInfo* m = inbox == nullptr ? nullptr : inbox->find(message_id);
  if (m == nullptr) return not_found();
  Pending p;
  if (m->read != read) {
    m->read = read;
    touch_locked(*inbox, p);
    p.events.push_back({Event::Kind::message_read, inbox->info.id, m->id, m->seq});
  }
  finish(lock, p);
  return {};
}

SubscriptionId InboxHub::subscribe(std::function<void(const Event&)> fn) {
  std::lock_guard lock(emit_mutex_);
  SubscriptionId id = next_subscription_++;
  subscribers_.emplace(id, std::move(fn));
  return id;
}

void InboxHub::unsubscribe(SubscriptionId id) {
  std::lock_guard lock(emit_mutex_);  // waits for a running call to end
  subscribers_.erase(id);
}

std::error_code InboxHub::set_faults(std::string_view inbox_id, std::vector<Fault> faults) {
  for (const Fault& f : faults) {
    if (!validate_fault(f).empty()) return invalid();
  }
  std::lock_guard lock(mutex_);
  detail::Inbox* inbox = find_locked(inbox_id);
  if (inbox == nullptr) return not_found();
  inbox->faults = std::move(faults);
  return {};
}

std::vector<Fault> InboxHub::faults(std::string_view inbox_id) const {
  std::lock_guard lock(mutex_);
  const detail::Inbox* inbox = find_locked(inbox_id);
  return inbox == nullptr ? std::vector<Fault>{} : inbox->faults;
}

std::vector<Fault> InboxHub::faults_for_address(std::string_view address) const {
  auto normal = detail::normalize_address(address);
  if (!normal) return {};
  std::lock_guard lock(mutex_);
  auto it = by_address_.find(*normal);
  return it == by_address_.end() ? std::vector<Fault>{} : find_locked(it->second)->faults;
}

bool InboxHub::password_matches(std::string_view address, std::string_view password,
                                bool strict) const {
  auto normal = detail::normalize_address(address);
  if (!normal) return false;
  std::string expected;
  bool has_password = false;
  {
    std::lock_guard lock(mutex_);
    auto it = by_address_.find(*normal);
    if (it == by_address_.end()) return !strict;
    const detail::Inbox* inbox = find_locked(it->second);
    has_password = inbox->password.has_value();
    if (has_password) expected = *inbox->password;
  }
  if (!has_password) return !strict;
  // Same length first (lengths of throwaway test passwords are no secret).
  bool ok = expected.size() == password.size() &&
            CRYPTO_memcmp(expected.data(), password.data(), expected.size()) == 0;
  OPENSSL_cleanse(expected.data(), expected.size());
  return ok;
}

InboxHub::Login InboxHub::login_of(std::string_view address) const {
  Login out;
  auto normal = detail::normalize_address(address);
  if (!normal) return out;
  std::lock_guard lock(mutex_);
  auto it = by_address_.find(*normal);
  if (it == by_address_.end()) return out;
  out.exists = true;
  out.password = find_locked(it->second)->password;
  return out;
}

std::string InboxHub::maildir(std::string_view inbox_id) const {
  if (!inbox(inbox_id)) return "";
  return storage_->maildir(inbox_id);
}

Delivery InboxHub::deliver(std::string_view sender, const std::vector<std::string>& recipients,
                           const core::Spool& body) {
  Delivery result;
  // Group the recipients by inbox address, in first-seen order.
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;
  for (const auto& r : recipients) {
    auto address = detail::normalize_address(r);
    if (!address) continue;
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const auto& g) { return g.first == *address; });
    if (it == groups.end()) {
      groups.push_back({*address, {r}});
    } else {
      it->second.push_back(r);
    }
  }
  if (groups.empty()) result.ec = invalid();
  for (auto& [address, rcpts] : groups) {
    std::string inbox_id, message_id;
    std::uint64_t seq = 0;
    Clock::time_point received;
    {
      std::unique_lock lock(mutex_);
      Pending p;
      auto it = by_address_.find(address);
      detail::Inbox& inbox =
          it == by_address_.end() ? make_inbox_locked(address, true, p) : *find_locked(it->second);
      if (it == by_address_.end()) touch_locked(inbox, p);
      inbox_id = inbox.info.id;
      seq = next_seq_++;
      received = now_();
      message_id = detail::new_message_id(seq, received);
      finish(lock, p);
    }
    if (auto ec = storage_->put(inbox_id, message_id, body)) {
      if (!result.ec) result.ec = ec;
      continue;
    }
    std::unique_lock lock(mutex_);
    detail::Inbox* inbox = find_locked(inbox_id);
    if (inbox == nullptr) {  // deleted meanwhile
      lock.unlock();
      storage_->remove(inbox_id, message_id);
      continue;
    }
    MessageInfo m;
    m.id = message_id;
    m.inbox_id = inbox_id;
    m.seq = seq;
    m.received = received;
    m.size = body.size();
    m.envelope_from = std::string(sender);
    m.envelope_to = rcpts;
    inbox->messages.push_back(m);
    order_[seq] = {inbox_id, message_id};
    total_bytes_ += m.size;
    Pending p;
    touch_locked(*inbox, p);
    p.events.push_back({Event::Kind::message_received, inbox_id, message_id, seq});
    apply_retention_locked(p);
    result.stored.push_back(std::move(m));
    finish(lock, p);
  }
  if (!result.stored.empty()) result.ec.clear();
  return result;
}

std::size_t InboxHub::sweep() {
  std::unique_lock lock(mutex_);
  const auto now = now_();
  std::vector<std::string> expired;
  for (const auto& [id, inbox] : by_id_) {
    if (inbox.info.expires && *inbox.info.expires <= now) expired.push_back(id);
  }
  Pending p;
  for (const auto& id : expired) remove_inbox_locked(id, Event::Kind::inbox_deleted, p);
  finish(lock, p);
  return expired.size();
}

}  // namespace popbox::sandbox
