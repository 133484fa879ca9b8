#pragma once
// An in-memory sandbox::Hub for tests of the parts above the hub (HTTP API,
// web UI, ...): inboxes, messages, faults and events as hub.hpp promises,
// with deliver() standing in for the SMTP receiver. Thread-safe; events are
// delivered on the calling thread, after the change, outside the lock.

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "sandbox/hub.hpp"

namespace popbox::sandbox::testing {

class FakeHub : public Hub {
 public:
  Limits limits_value{0, 0, 10 * 1024 * 1024};
  std::atomic<int> raw_calls{0};  ///< raw() calls (a cache must spare them)

  /// Delivers `raw` to `address` (the inbox is created on first delivery,
  /// as the catch-all does); returns the new message's id.
  std::string deliver(const std::string& address, const std::string& raw,
                      const std::string& envelope_from = "sender@example.com") {
    std::vector<Event> events;
    std::string id;
    {
      std::lock_guard lock(mutex_);
      Box* box = find_by_address(address);
      if (!box) {
        box = &make_box(address, true, std::nullopt);
        events.push_back(Event{Event::Kind::inbox_created, box->info.id, "", 0});
      }
      Stored m;
      m.info.id = "m" + std::to_string(++next_message_);
      m.info.inbox_id = box->info.id;
      m.info.seq = ++seq_;
      m.info.received = Clock::now();
      m.info.size = raw.size();
      m.info.envelope_from = envelope_from;
      m.info.envelope_to = {address};
      m.raw = raw;
      id = m.info.id;
      box->messages.push_back(std::move(m));
      events.push_back(Event{Event::Kind::message_received, box->info.id, id, seq_});
      const std::size_t cap = box->info.max_messages;
      while (cap && box->messages.size() > cap) {
        const auto& old = box->messages.front();
        events.push_back(
            Event{Event::Kind::message_deleted, box->info.id, old.info.id, old.info.seq});
        box->messages.erase(box->messages.begin());
      }
    }
    emit(events);
    return id;
  }

  std::error_code create_inbox(const InboxSpec& spec, InboxInfo& out) override {
    if (spec.address.find('@') == std::string::npos) {
      return std::make_error_code(std::errc::invalid_argument);
    }
    {
      std::lock_guard lock(mutex_);
      if (find_by_address(spec.address)) return std::make_error_code(std::errc::file_exists);
      Box& b = make_box(spec.address, false, spec.password);
      if (spec.ttl) b.info.expires = b.info.created + *spec.ttl;
      if (spec.max_messages) b.info.max_messages = *spec.max_messages;
      out = info_of(b);
    }
    emit({Event{Event::Kind::inbox_created, out.id, "", 0}});
    return {};
  }
  std::vector<InboxInfo> inboxes() const override {
    std::lock_guard lock(mutex_);
    std::vector<InboxInfo> out;
    for (const auto& [_, b] : boxes_) out.push_back(info_of(b));
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return std::stoul(a.id.substr(1)) < std::stoul(b.id.substr(1));  // creation order
    });
    return out;
  }
  std::optional<InboxInfo> inbox(std::string_view id) const override {
    std::lock_guard lock(mutex_);
    auto it = boxes_.find(std::string(id));
    if (it == boxes_.end()) return std::nullopt;
    return info_of(it->second);
  }
  std::optional<InboxInfo> inbox_by_address(std::string_view address) const override {
    std::lock_guard lock(mutex_);
    for (const auto& [_, b] : boxes_) {
      if (b.info.address == lower(std::string(address))) return info_of(b);
    }
    return std::nullopt;
  }
  std::error_code delete_inbox(std::string_view id) override {
    {
      std::lock_guard lock(mutex_);
      if (boxes_.erase(std::string(id)) == 0) return not_found();
    }
    emit({Event{Event::Kind::inbox_deleted, std::string(id), "", 0}});
    return {};
  }
  std::error_code clear_inbox(std::string_view id) override {
    {
      std::lock_guard lock(mutex_);
      auto it = boxes_.find(std::string(id));
      if (it == boxes_.end()) return not_found();
      it->second.messages.clear();
    }
    emit({Event{Event::Kind::inbox_cleared, std::string(id), "", 0}});
    return {};
  }
  std::vector<MessageInfo> messages(std::string_view inbox_id, std::size_t offset,
                                    std::size_t limit, std::size_t& total) const override {
    std::lock_guard lock(mutex_);
    std::vector<MessageInfo> out;
    total = 0;
    auto it = boxes_.find(std::string(inbox_id));
    if (it == boxes_.end()) return out;
    const auto& ms = it->second.messages;
    total = ms.size();
    for (std::size_t i = offset; i < ms.size() && out.size() < limit; ++i) {
      out.push_back(ms[ms.size() - 1 - i].info);  // newest first
    }
    return out;
  }
  std::optional<MessageInfo> message(std::string_view inbox_id,
                                     std::string_view message_id) const override {
    std::lock_guard lock(mutex_);
    const Stored* m = find(inbox_id, message_id);
    if (!m) return std::nullopt;
    return m->info;
  }
  std::error_code raw(std::string_view inbox_id, std::string_view message_id,
                      std::string& out) const override {
    ++const_cast<FakeHub*>(this)->raw_calls;
    std::lock_guard lock(mutex_);
    const Stored* m = find(inbox_id, message_id);
    if (!m) return not_found();
    out = m->raw;
    return {};
  }
  std::error_code delete_message(std::string_view inbox_id, std::string_view message_id) override {
    std::uint64_t seq = 0;
    {
      std::lock_guard lock(mutex_);
      auto it = boxes_.find(std::string(inbox_id));
      if (it == boxes_.end()) return not_found();
      auto& ms = it->second.messages;
      auto pos = std::find_if(ms.begin(), ms.end(),
                              [&](const Stored& s) { return s.info.id == message_id; });
      if (pos == ms.end()) return not_found();
      seq = pos->info.seq;
      ms.erase(pos);
    }
    emit(
        {Event{Event::Kind::message_deleted, std::string(inbox_id), std::string(message_id), seq}});
    return {};
  }
  std::error_code mark_read(std::string_view inbox_id, std::string_view message_id,
                            bool read) override {
    std::uint64_t seq = 0;
    {
      std::lock_guard lock(mutex_);
      Stored* m = const_cast<Stored*>(find(inbox_id, message_id));
      if (!m) return not_found();
      m->info.read = read;
      seq = m->info.seq;
    }
    emit({Event{Event::Kind::message_read, std::string(inbox_id), std::string(message_id), seq}});
    return {};
  }
  SubscriptionId subscribe(std::function<void(const Event&)> fn) override {
    std::lock_guard lock(sub_mutex_);
    subs_[++next_sub_] = std::move(fn);
    return next_sub_;
  }
  void unsubscribe(SubscriptionId id) override {
    std::lock_guard lock(sub_mutex_);
    subs_.erase(id);
  }
  std::error_code set_faults(std::string_view inbox_id, std::vector<Fault> faults) override {
    std::lock_guard lock(mutex_);
    auto it = boxes_.find(std::string(inbox_id));
    if (it == boxes_.end()) return not_found();
    it->second.faults = std::move(faults);
    return {};
  }
  std::vector<Fault> faults(std::string_view inbox_id) const override {
    std::lock_guard lock(mutex_);
    auto it = boxes_.find(std::string(inbox_id));
    return it == boxes_.end() ? std::vector<Fault>{} : it->second.faults;
  }
  Limits limits() const override { return limits_value; }

 private:
  struct Stored {
    MessageInfo info;
    std::string raw;
  };
  struct Box {
    InboxInfo info;
    std::vector<Stored> messages;  // oldest first
    std::vector<Fault> faults;
  };

  static std::error_code not_found() {
    return std::make_error_code(std::errc::no_such_file_or_directory);
  }
  static std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  static InboxInfo info_of(const Box& b) {
    InboxInfo i = b.info;
    i.messages = b.messages.size();
    i.unread = 0;
    i.bytes = 0;
    for (const auto& m : b.messages) {
      i.unread += m.info.read ? 0 : 1;
      i.bytes += m.info.size;
    }
    return i;
  }
  Box* find_by_address(const std::string& address) {
    for (auto& [_, b] : boxes_) {
      if (b.info.address == lower(address)) return &b;
    }
    return nullptr;
  }
  Box& make_box(const std::string& address, bool automatic, std::optional<std::string> password) {
    Box b;
    b.info.id = "i" + std::to_string(++next_inbox_);
    b.info.address = lower(address);
    b.info.auto_created = automatic;
    b.info.has_password = password.has_value();
    b.info.created = Clock::now();
    b.info.max_messages = limits_value.max_messages;
    const std::string id = b.info.id;
    return boxes_[id] = std::move(b);
  }
  const Stored* find(std::string_view inbox_id, std::string_view message_id) const {
    auto it = boxes_.find(std::string(inbox_id));
    if (it == boxes_.end()) return nullptr;
    for (const auto& m : it->second.messages) {
      if (m.info.id == message_id) return &m;
    }
    return nullptr;
  }
  void emit(const std::vector<Event>& events) {
    std::lock_guard lock(sub_mutex_);  // keeps unsubscribe()'s promise
    for (const auto& ev : events) {
      for (const auto& [_, fn] : subs_) fn(ev);
    }
  }

  mutable std::mutex mutex_;
  std::map<std::string, Box> boxes_;
  std::uint64_t next_inbox_ = 0, next_message_ = 0, seq_ = 0;
  std::mutex sub_mutex_;
  std::map<SubscriptionId, std::function<void(const Event&)>> subs_;
  SubscriptionId next_sub_ = 0;
};

}  // namespace popbox::sandbox::testing
