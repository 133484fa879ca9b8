#pragma once
// An inbox as InboxHub keeps it, and its metadata document (JSON, one per
// inbox) that survives a restart.

#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/hub.hpp"

namespace popbox::sandbox::detail {

struct Inbox {
  InboxInfo info;                       ///< messages/unread/bytes kept current
  std::optional<std::string> password;  ///< plaintext: throwaway test credentials (0600 file)
  std::deque<MessageInfo> messages;     ///< oldest first
  std::vector<Fault> faults;            ///< in memory only
  std::uint64_t version = 0;            ///< bumped on every change to persist

  /// Recomputes info.messages, unread and bytes from `messages`.
  void recount();
  /// The message named `id`, or nullptr.
  MessageInfo* find(std::string_view id);
};

/// The metadata document of `inbox`.
std::string to_json(const Inbox& inbox);
/// Reads a document written by to_json(); nullopt (with `why`) when it is
/// not one.
std::optional<Inbox> from_json(std::string_view json, std::string& why);

/// Lowercases `address` and checks it can name an inbox (1 to
/// limits::sandbox_max_address octets, no space, control, '<', '>', '/',
/// '\\' or '"', and not "." or ".."); nullopt when it cannot.
std::optional<std::string> normalize_address(std::string_view address);

/// A Maildir base name that is also a valid message id and POP3 UIDL
/// ([A-Za-z0-9._-], at most 70): unique through the sandbox-wide `seq`.
std::string new_message_id(std::uint64_t seq, Clock::time_point now);

}  // namespace popbox::sandbox::detail
