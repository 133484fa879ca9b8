#pragma once
// The sandbox's inboxes: sandbox::Hub over a MessageStorage (Maildirs
// under --data). Catch-all: the first delivery to an address creates its
// inbox. Retention: a per-inbox message cap (oldest dropped), inbox expiry
// (sweep()), a total size cap (oldest across inboxes dropped). Every change
// is an Event for the subscribers. Metadata is persisted per inbox and
// read back at construction, so a restart keeps every inbox.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/spool.hpp"
#include "sandbox/hub.hpp"
#include "sandbox/inbox_meta.hpp"
#include "sandbox/message_storage.hpp"

namespace popbox::sandbox {

/// The result of one delivery (one SMTP transaction).
struct Delivery {
  std::error_code ec;               ///< set when no inbox got the message
  std::vector<MessageInfo> stored;  ///< one per inbox that got it
};

class InboxHub final : public Hub {
 public:
  using Now = std::function<Clock::time_point()>;

  /// Reads back the inboxes `storage` holds (a damaged metadata document is
  /// reported through `warnings` and skipped; messages found without
  /// metadata are adopted, metadata without its message is dropped).
  InboxHub(std::unique_ptr<MessageStorage> storage, Limits limits, Now now = &Clock::now);
  ~InboxHub() override;

  std::error_code create_inbox(const InboxSpec& spec, InboxInfo& out) override;
  std::vector<InboxInfo> inboxes() const override;
  std::optional<InboxInfo> inbox(std::string_view id) const override;
  std::optional<InboxInfo> inbox_by_address(std::string_view address) const override;
  std::error_code delete_inbox(std::string_view id) override;
  std::error_code clear_inbox(std::string_view id) override;
  std::vector<MessageInfo> messages(std::string_view inbox_id, std::size_t offset,
                                    std::size_t limit, std::size_t& total) const override;
  std::optional<MessageInfo> message(std::string_view inbox_id,
                                     std::string_view message_id) const override;
  std::error_code raw(std::string_view inbox_id, std::string_view message_id,
                      std::string& out) const override;
  std::error_code delete_message(std::string_view inbox_id, std::string_view message_id) override;
  std::error_code mark_read(std::string_view inbox_id, std::string_view message_id,
                            bool read) override;
  SubscriptionId subscribe(std::function<void(const Event&)> fn) override;
  void unsubscribe(SubscriptionId id) override;
  std::error_code set_faults(std::string_view inbox_id, std::vector<Fault> faults) override;
  std::vector<Fault> faults(std::string_view inbox_id) const override;
  Limits limits() const override { return limits_; }

  /// Stores `body` once in each inbox of `recipients` (grouped by address,
  /// inboxes made on first use), then applies retention. Blocks (disk).
  Delivery deliver(std::string_view sender, const std::vector<std::string>& recipients,
                   const core::Spool& body);
  /// Removes the inboxes whose expiry has passed; returns how many.
  std::size_t sweep();
  /// The faults of the inbox of `address` (none when it has no inbox).
  /// Answers from memory.
  std::vector<Fault> faults_for_address(std::string_view address) const;
  /// Whether `password` opens the inbox of `address`: its own password, or
  /// (unless `strict`) anything for an inbox without one. Unknown addresses
  /// pass only when not strict (the inbox is made on first delivery).
  /// Compares in constant time.
  bool password_matches(std::string_view address, std::string_view password, bool strict) const;
  /// What a POP3 login needs of the inbox of `address`.
  struct Login {
    bool exists = false;                  ///< the address has an inbox
    std::optional<std::string> password;  ///< none: any password (unless strict auth)
  };
  /// The login of `address` (nothing for an address that names no inbox).
  /// Answers from memory.
  Login login_of(std::string_view address) const;
  /// The Maildir of an inbox, for the POP3 side ("" when unknown).
  std::string maildir(std::string_view inbox_id) const;

 private:
  struct Removal {
    std::string inbox_id, message_id;
  };
  /// What one change leaves to do once the state lock is released.
  struct Pending {
    std::vector<Event> events;
    std::vector<std::pair<std::string, std::string>> metas;  ///< (inbox id, document)
    std::vector<std::uint64_t> versions;
    std::vector<Removal> removals;
    std::vector<std::string> removed_inboxes;
  };

  void load();
  std::string new_inbox_id();
  detail::Inbox* find_locked(std::string_view id);
  const detail::Inbox* find_locked(std::string_view id) const;
  detail::Inbox& make_inbox_locked(const std::string& address, bool auto_created, Pending& p);
  void drop_message_locked(detail::Inbox& inbox, std::size_t index, Pending& p);
  void remove_inbox_locked(const std::string& id, Event::Kind why, Pending& p);
  void apply_retention_locked(Pending& p);
  void touch_locked(detail::Inbox& inbox, Pending& p);
  /// Emits `p`'s events in order and releases `lock`, then writes to storage.
  void finish(std::unique_lock<std::mutex>& lock, Pending& p);

  std::unique_ptr<MessageStorage> storage_;
  Limits limits_;
  Now now_;

  mutable std::mutex mutex_;  // the state below
  std::map<std::string, detail::Inbox, std::less<>> by_id_;
  std::map<std::string, std::string, std::less<>> by_address_;          // address -> id
  std::map<std::uint64_t, std::pair<std::string, std::string>> order_;  // seq -> (inbox, msg)
  std::uint64_t next_seq_ = 1;
  std::uint64_t total_bytes_ = 0;

  std::mutex emit_mutex_;  // the subscribers; taken before mutex_ is released
  std::map<SubscriptionId, std::function<void(const Event&)>> subscribers_;
  SubscriptionId next_subscription_ = 1;

  std::mutex io_mutex_;                                        // the order of metadata writes
  std::map<std::string, std::uint64_t, std::less<>> written_;  // inbox id -> version on disk
  std::set<std::string, std::less<>> deleted_;
};

}  // namespace popbox::sandbox
