#pragma once
// What `popbox mailbox stat` and `popbox expunge` do to a maildrop. Blocking
// file-system work: the server runs it on its mail pool, as the mailbox
// owner (core::FsIdGuard), under the maildrop lock a POP3 session takes.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "store/mailbox.hpp"
#include "store/uidl_format.hpp"

namespace popbox::admin {

/// Where one user's maildrop is and whose it is.
struct MaildropRef {
  std::string user;
  std::string path;                   ///< the Maildir directory
  std::optional<store::Owner> owner;  ///< none: the server user
  std::shared_ptr<const store::UidlFormat> uidl_format;
  bool adopt_x_uidl = false;
};

/// `popbox mailbox stat`: what a POP3 STAT would say, and more.
struct MailboxStat {
  bool exists = false;                 ///< the Maildir is there
  bool locked = false;                 ///< a session (or another verb) holds the maildrop lock
  bool counted = false;                ///< messages/octets/oldest are known
  bool from_snapshot = false;          ///< locked: the numbers come from popbox-snapshot
  std::uint64_t messages = 0;          ///< as STAT: messages
  std::uint64_t octets = 0;            ///< as STAT: octets on the wire (CRLF line ends)
  std::optional<std::int64_t> oldest;  ///< delivery time of the oldest, seconds since the epoch
  std::string index = "none";          ///< popbox-snapshot: "none", "fresh" or "stale"
};

/// One message an expunge removed (or would remove).
struct ExpungedMessage {
  std::string uidl;
  std::uint64_t octets = 0;
  std::int64_t delivered = 0;  ///< seconds since the epoch
};

/// What an expunge did to one user's maildrop.
struct ExpungeResult {
  std::string user;
  std::size_t removed = 0;  ///< messages removed (dry run: that would be)
  std::uint64_t octets = 0;
  std::string skipped;                    ///< why nothing was done ("in use", an error), "" if done
  std::vector<ExpungedMessage> messages;  ///< the first limits::admin_listed_messages
  bool truncated = false;                 ///< messages lists only part of them
};

/// When a message was delivered, in seconds since the epoch: the leading
/// timestamp of its Maildir name ("1700000000.M1P2.host"), else its mtime.
std::int64_t delivery_time(std::string_view name, std::int64_t mtime_ns) noexcept;

/// Looks at the maildrop without changing anything (nothing is created,
/// nothing written). ec for a file-system error.
MailboxStat mailbox_stat(const MaildropRef& ref, std::error_code& ec);

/// Removes the messages delivered before `cutoff` (seconds since the epoch)
/// under the maildrop lock, as a POP3 session's DELE+QUIT would; with
/// `dry_run` only reports them. A maildrop that is locked is skipped
/// ("in use"), never waited for.
ExpungeResult expunge(const MaildropRef& ref, std::int64_t cutoff, bool dry_run);

}  // namespace popbox::admin
