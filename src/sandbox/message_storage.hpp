#pragma once
// Where InboxHub keeps message octets and inbox metadata: one small seam,
// so the Maildir layout (DIR/inboxes/<id>/Maildir) and memory (--ephemeral)
// are one choice at start; the POP3 side reads either through the hub
// (sandbox/pop3_store.hpp). Every call may block: run it off the event
// threads.

#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "core/spool.hpp"

namespace popbox::sandbox {

class MessageStorage {
 public:
  virtual ~MessageStorage() = default;

  /// Stores `body` byte for byte as message `id` of `inbox_id`, durably.
  virtual std::error_code put(std::string_view inbox_id, std::string_view id,
                              const core::Spool& body) = 0;
  /// The stored octets of message `id`; no_such_file_or_directory when gone.
  virtual std::error_code get(std::string_view inbox_id, std::string_view id,
                              std::string& out) const = 0;
  /// Removes message `id` (gone already is not an error).
  virtual std::error_code remove(std::string_view inbox_id, std::string_view id) = 0;
  /// Removes the inbox with its messages and metadata.
  virtual std::error_code remove_inbox(std::string_view inbox_id) = 0;
  /// The ids of the inbox's stored messages, in no order.
  virtual std::vector<std::string> list(std::string_view inbox_id) const = 0;
  /// Replaces the inbox's metadata document atomically and durably.
  virtual std::error_code save_meta(std::string_view inbox_id, std::string_view json) = 0;
  /// Every inbox's metadata document: (inbox id, document).
  virtual std::vector<std::pair<std::string, std::string>> load_meta() const = 0;
  /// The Maildir of an inbox (for the POP3 side), "" when not on disk.
  virtual std::string maildir(std::string_view inbox_id) const = 0;
};

/// Messages as Maildirs under `root`/inboxes/<id>/Maildir (the exact
/// octets, CRLF kept), metadata in `root`/inboxes/<id>/inbox.json (0600).
std::unique_ptr<MessageStorage> make_maildir_storage(std::string root);

/// Messages and metadata in memory only (--ephemeral): nothing touches the
/// disk, nothing survives the process; maildir() is always "".
std::unique_ptr<MessageStorage> make_memory_storage();

}  // namespace popbox::sandbox
