#include "sandbox/inbox_hub.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>

#include "core/limits.hpp"
#include "core/log.hpp"
#include "sandbox/fault_plan.hpp"

namespace popbox::sandbox {

InboxHub::InboxHub(std::unique_ptr<MessageStorage> storage, Limits limits, Now now)
    : storage_(std::move(storage)), limits_(limits), now_(std::move(now)) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  load();
}

InboxHub::~InboxHub() = default;

void InboxHub::load() {
  for (auto& [dir_id, text] : storage_->load_meta()) {
    std::string why;
    std::optional<detail::Inbox> inbox = detail::from_json(text, why);
    if (!inbox || inbox->info.id != dir_id || by_address_.count(inbox->info.address)) {
      core::log_warn(fmt::format("sandbox event=bad_inbox_meta inbox={} reason=\"{}\"",
                                 core::log_escape(dir_id), why.empty() ? "duplicate" : why));
      continue;
    }
    // Reconcile with the Maildir: a crash may fall between the message
    // file and the metadata (adopted), or POP3 may have deleted a file.
    std::vector<std::string> files = storage_->list(dir_id);
    std::set<std::string, std::less<>> on_disk(files.begin(), files.end());
    std::erase_if(inbox->messages, [&](const MessageInfo& m) { return !on_disk.count(m.id); });
    for (const auto& m : inbox->messages) on_disk.erase(m.id);
    for (const auto& id : on_disk) {
      MessageInfo m;
      m.id = id;
      m.inbox_id = dir_id;
      std::string octets;
      if (storage_->get(dir_id, id, octets)) continue;
      m.size = octets.size();
      m.received = now_();
      m.seq = 0;  // numbered below, after every known message
      inbox->messages.push_back(std::move(m));
    }
    inbox->recount();
    by_address_[inbox->info.address] = dir_id;
    by_id_.emplace(dir_id, std::move(*inbox));
  }
  for (auto& [id, inbox] : by_id_) {
    for (const auto& m : inbox.messages) next_seq_ = std::max(next_seq_, m.seq + 1);
  }
  for (auto& [id, inbox] : by_id_) {
    for (auto& m : inbox.messages) {
      if (m.seq == 0) m.seq = next_seq_++;
      order_[m.seq] = {id, m.id};
      total_bytes_ += m.size;
    }
  }
}

std::string InboxHub::new_inbox_id() {
  static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  for (;;) {
    std::string id;
    for (int i = 0; i < 16; ++i) id += alphabet[randombytes_uniform(sizeof alphabet - 1)];
    if (!by_id_.count(id)) return id;
  }
}

detail::Inbox* InboxHub::find_locked(std::string_view id) {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

const detail::Inbox* InboxHub::find_locked(std::string_view id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

void InboxHub::touch_locked(detail::Inbox& inbox, Pending& p) {
  inbox.recount();
  ++inbox.version;
  for (std::size_t i = 0; i < p.metas.size(); ++i) {
    if (p.metas[i].first == inbox.info.id) {
      p.metas[i].second = detail::to_json(inbox);
      p.versions[i] = inbox.version;
      return;
    }
  }
  p.metas.emplace_back(inbox.info.id, detail::to_json(inbox));
  p.versions.push_back(inbox.version);
}

detail::Inbox& InboxHub::make_inbox_locked(const std::string& address, bool auto_created,
                                           Pending& p) {
  detail::Inbox inbox;
  inbox.info.id = new_inbox_id();
  inbox.info.address = address;
  inbox.info.auto_created = auto_created;
  inbox.info.created = now_();
  inbox.info.max_messages = limits_.max_messages;
  const std::string id = inbox.info.id;
  by_address_[address] = id;
  detail::Inbox& ref = by_id_.emplace(id, std::move(inbox)).first->second;
  p.events.push_back({Event::Kind::inbox_created, id, "", 0});
  return ref;
}

void InboxHub::drop_message_locked(detail::Inbox& inbox, std::size_t index, Pending& p) {
  MessageInfo m = std::move(inbox.messages[index]);
  inbox.messages.erase(inbox.messages.begin() + static_cast<std::ptrdiff_t>(index));
  order_.erase(m.seq);
  total_bytes_ -= m.size;
  p.events.push_back({Event::Kind::message_deleted, inbox.info.id, m.id, m.seq});
  p.removals.push_back({inbox.info.id, m.id});
  touch_locked(inbox, p);
}

void InboxHub::remove_inbox_locked(const std::string& id, Event::Kind why, Pending& p) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  for (const auto& m : it->second.messages) {
    order_.erase(m.seq);
    total_bytes_ -= m.size;
  }
  by_address_.erase(it->second.info.address);
  by_id_.erase(it);
  p.events.push_back({why, id, "", 0});
  p.removed_inboxes.push_back(id);
}

void InboxHub::apply_retention_locked(Pending& p) {
  for (auto& [id, inbox] : by_id_) {
    while (inbox.info.max_messages != 0 && inbox.messages.size() > inbox.info.max_messages) {
      drop_message_locked(inbox, 0, p);
    }
  }
  // The newest message stays even when it alone passes the cap.
  while (limits_.max_total_bytes != 0 && total_bytes_ > limits_.max_total_bytes &&
         order_.size() > 1) {
    auto [inbox_id, message_id] = order_.begin()->second;
    detail::Inbox* inbox = find_locked(inbox_id);
    if (inbox == nullptr) break;  // cannot happen: order_ follows by_id_
    auto it = std::find_if(inbox->messages.begin(), inbox->messages.end(),
                           [&](const MessageInfo& m) { return m.id == message_id; });
    if (it == inbox->messages.end()) break;
    drop_message_locked(*inbox, static_cast<std::size_t>(it - inbox->messages.begin()), p);
  }
}

void InboxHub::finish(std::unique_lock<std::mutex>& lock, Pending& p) {
  {
    std::lock_guard emit(emit_mutex_);
    lock.unlock();
    for (const Event& e : p.events) {
      for (auto& [sid, fn] : subscribers_) fn(e);
    }
  }
  std::lock_guard io(io_mutex_);
  for (const auto& id : p.removed_inboxes) {
    deleted_.insert(id);
    written_.erase(id);
    if (auto ec = storage_->remove_inbox(id)) {
      core::log_warn(
          fmt::format("sandbox event=remove_inbox_failed inbox={} error=\"{}\"", id, ec.message()));
    }
  }
  for (std::size_t i = 0; i < p.metas.size(); ++i) {
    const auto& [id, doc] = p.metas[i];
    if (deleted_.count(id) || written_[id] >= p.versions[i]) continue;
    if (auto ec = storage_->save_meta(id, doc)) {
      core::log_warn(
          fmt::format("sandbox event=save_meta_failed inbox={} error=\"{}\"", id, ec.message()));
      continue;
    }
    written_[id] = p.versions[i];
  }
  for (const auto& r : p.removals) {
    if (deleted_.count(r.inbox_id)) continue;
    storage_->remove(r.inbox_id, r.message_id);
  }
}

}  // namespace popbox::sandbox
