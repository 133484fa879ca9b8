#pragma once
// Storing a received message for local users through the Store: recipient
// lookup, quota (the store's kept usage), the Return-Path/Delivered-To
// headers, and one crash-safe delivery for all the recipients of a
// transaction. Shared by `popbox deliver` and the LMTP listener. Every call
// may block (lookups, disk, database): run it off the event threads.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "core/spool.hpp"
#include "store/mailbox.hpp"
#include "store/quota.hpp"

namespace popbox::auth {
class Authenticator;
}

namespace popbox::lmtp {

enum class RcptStatus {
  ok,
  no_such_user,  ///< 550 5.1.1 / EX_NOUSER
  over_quota,    ///< 552 5.2.2 (or 452 4.2.2 when temporary) / EX_NOPERM or EX_TEMPFAIL
  temp_failure,  ///< 451 4.3.0 / EX_TEMPFAIL: disk, database, lookups
  /// 450 4.3.0 / EX_TEMPFAIL: a store failure an operator must fix (a
  /// symlink inside the Maildir, an entry whose uid/gid are refused, an
  /// unusable path): nothing written, the MTA keeps the message meanwhile
  unsafe_mailbox,
};

/// A resolved recipient.
struct Recipient {
  std::string address;  ///< as the client gave it, for Delivered-To
  std::string user;     ///< the passwd-file user
  store::QuotaLimits limits;
  /// The entry's uid/gid: the store acts with them. None: the server user.
  std::optional<store::Owner> owner;
  /// What the Store needs to find this recipient's mailbox.
  store::OpenRequest request() const { return {user, owner}; }
};

/// The line ends of a message handed to deliver().
enum class LineEnds {
  crlf,  ///< network form (LMTP DATA): passed to the store as is
  lf,    ///< LF (an MTA's pipe to `popbox deliver`): bare LFs become CRLF
};

/// The result of one recipient's delivery.
struct DeliveryResult {
  RcptStatus status = RcptStatus::ok;
  std::string detail;  ///< why not, for the log
};

class LocalDelivery {
 public:
  LocalDelivery(const config::Config& cfg, auth::Authenticator& users, store::Store& store);

  /// Finds the user of `address`: the whole address, then its local part
  /// (for users files with bare names). `size_hint` (0 = unknown) lets a
  /// message that cannot fit be refused before its data is sent. A store
  /// failure an operator must fix (symlinked Maildir directories, refused
  /// uid/gid) gives unsafe_mailbox.
  RcptStatus resolve(std::string_view address, std::uint64_t size_hint, Recipient& out,
                     std::string& detail);
  /// Stores `message` once for every recipient (each with its configured
  /// headers), one result per recipient in order; ok means durable. Quota
  /// is checked again with the real size.
  std::vector<DeliveryResult> deliver(std::span<const Recipient> rcpts, std::string_view sender,
                                      const core::Spool& message, LineEnds line_ends);

  /// True when over-quota should be reported as a temporary failure.
  bool quota_is_temporary() const noexcept { return cfg_.quota.temporary; }

 private:
  std::string header_prefix(const Recipient& rcpt, std::string_view sender) const;
  /// ok, or why `rcpt` cannot take `size` more bytes now.
  RcptStatus check_quota(const Recipient& rcpt, std::uint64_t size, bool known_size,
                         std::string& detail);

  const config::Config& cfg_;
  auth::Authenticator& users_;
  store::Store& store_;
};

/// The RcptStatus a store error gives (by its store::failure class only).
RcptStatus status_of(const std::error_code& ec) noexcept;

/// Strips "<...>" and surrounding spaces from an SMTP path; "" for "<>".
std::string_view strip_path(std::string_view path) noexcept;

}  // namespace popbox::lmtp
