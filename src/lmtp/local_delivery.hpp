#pragma once
// Storing a received message in users' Maildirs: recipient lookup, quota,
// the Return-Path/Delivered-To headers, and crash-safe writing. Shared by
// `popbox deliver` and the LMTP listener. Every call may block (lookups,
// directory scans, fsync): run it off the event threads.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "core/spool.hpp"
#include "store/mailbox.hpp"
#include "store/quota.hpp"

namespace popbox::auth {
class Authenticator;
}
namespace popbox::store {
class MaildirStore;
}

namespace popbox::lmtp {

enum class RcptStatus {
  ok,
  no_such_user,  ///< 550 5.1.1 / EX_NOUSER
  over_quota,    ///< 552 5.2.2 (or 452 4.2.2 when temporary) / EX_NOPERM or EX_TEMPFAIL
  temp_failure,  ///< 451 4.3.0 / EX_TEMPFAIL: disk, permissions, lookups
  /// 450 4.3.0 / EX_TEMPFAIL: a symlink inside the Maildir, or an entry
  /// whose uid/gid are refused (nothing written; the operator must fix the
  /// mailbox or the entry, the MTA keeps the message meanwhile)
  unsafe_mailbox,
};

/// A resolved recipient.
struct Recipient {
  std::string address;  ///< as the client gave it, for Delivered-To
  std::string user;     ///< the passwd-file user
  std::string maildir;
  store::QuotaLimits limits;
  /// The entry's uid/gid: every access to the Maildir (quota scan, writing)
  /// is made with them. None: the server user.
  std::optional<store::Owner> owner;
};

class LocalDelivery {
 public:
  LocalDelivery(const config::Config& cfg, auth::Authenticator& users,
                const store::MaildirStore& store);

  /// Finds the user of `address`: the whole address, then its local part
  /// (for users files with bare names). `size_hint` (0 = unknown) lets a
  /// message that cannot fit be refused before its data is sent. A Maildir
  /// with a symlinked new/ cur/ or tmp/, and an entry whose uid/gid are
  /// refused (0, below [auth] first_valid_uid), give unsafe_mailbox.
  RcptStatus resolve(std::string_view address, std::uint64_t size_hint, Recipient& out,
                     std::string& detail);
  /// Stores `message` for one recipient, with the configured headers; when
  /// it returns ok the message is durable in new/. `crlf_to_lf` converts
  /// network line ends to the Unix ones Maildir readers expect.
  RcptStatus deliver(const Recipient& rcpt, std::string_view sender, const core::Spool& message,
                     bool crlf_to_lf, std::string& detail);

  /// True when over-quota should be reported as a temporary failure.
  bool quota_is_temporary() const noexcept { return cfg_.quota.temporary; }

 private:
  const config::Config& cfg_;
  auth::Authenticator& users_;
  const store::MaildirStore& store_;
};

/// Strips "<...>" and surrounding spaces from an SMTP path; "" for "<>".
std::string_view strip_path(std::string_view path) noexcept;

}  // namespace popbox::lmtp
