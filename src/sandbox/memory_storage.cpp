// MessageStorage in memory, for --ephemeral: no directory, no file.
#include <map>
#include <mutex>

#include "sandbox/message_storage.hpp"

namespace popbox::sandbox {
namespace {

class MemoryStorage final : public MessageStorage {
 public:
  std::error_code put(std::string_view inbox_id, std::string_view id,
                      const core::Spool& body) override {
    std::string octets;
    octets.reserve(body.size());
    auto ec = body.for_each_block([&](std::string_view block) {
      octets.append(block);
      return std::error_code{};
    });
    if (ec) return ec;
    std::lock_guard lock(mutex_);
    inboxes_[std::string(inbox_id)].messages[std::string(id)] = std::move(octets);
    return {};
  }

  std::error_code get(std::string_view inbox_id, std::string_view id,
                      std::string& out) const override {
    std::lock_guard lock(mutex_);
    auto inbox = inboxes_.find(inbox_id);
    if (inbox == inboxes_.end()) return gone();
    auto m = inbox->second.messages.find(id);
    if (m == inbox->second.messages.end()) return gone();
    out = m->second;
    return {};
  }

  std::error_code remove(std::string_view inbox_id, std::string_view id) override {
    std::lock_guard lock(mutex_);
    if (auto inbox = inboxes_.find(inbox_id); inbox != inboxes_.end()) {
      if (auto m = inbox->second.messages.find(id); m != inbox->second.messages.end()) {
        inbox->second.messages.erase(m);
      }
    }
    return {};
  }

  std::error_code remove_inbox(std::string_view inbox_id) override {
    std::lock_guard lock(mutex_);
    if (auto it = inboxes_.find(inbox_id); it != inboxes_.end()) inboxes_.erase(it);
    return {};
  }

  std::vector<std::string> list(std::string_view inbox_id) const override {
    std::lock_guard lock(mutex_);
    std::vector<std::string> ids;
    if (auto inbox = inboxes_.find(inbox_id); inbox != inboxes_.end()) {
      for (const auto& [id, octets] : inbox->second.messages) ids.push_back(id);
    }
    return ids;
  }

  std::error_code save_meta(std::string_view inbox_id, std::string_view json) override {
    std::lock_guard lock(mutex_);
    inboxes_[std::string(inbox_id)].meta = std::string(json);
    return {};
  }

  std::vector<std::pair<std::string, std::string>> load_meta() const override {
    std::lock_guard lock(mutex_);
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [id, inbox] : inboxes_) out.emplace_back(id, inbox.meta);
    return out;
  }

  std::string maildir(std::string_view) const override { return ""; }

 private:
  struct Inbox {
    std::map<std::string, std::string, std::less<>> messages;  // id -> octets
    std::string meta;
  };
  static std::error_code gone() {
    return std::make_error_code(std::errc::no_such_file_or_directory);
  }

  mutable std::mutex mutex_;
  std::map<std::string, Inbox, std::less<>> inboxes_;
};

}  // namespace

std::unique_ptr<MessageStorage> make_memory_storage() {
  return std::make_unique<MemoryStorage>();
}

}  // namespace popbox::sandbox
