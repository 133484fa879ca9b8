#pragma once
// The Maildir backend of Store: one Maildir per user, found by a path
// template, locked for the length of a session.

#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "store/mailbox.hpp"
#include "store/path_template.hpp"
#include "store/uidl_format.hpp"

namespace popbox::store {

/// Opens users' Maildirs at `path_template` ("/var/mail/%d/%n/Maildir", see
/// PathTemplate). Thread-safe: it keeps no per-session state.
class MaildirStore final : public Store, public MaildirPaths {
 public:
  /// Throws std::invalid_argument for an unusable template (startup error).
  /// UIDLs Dovecot left are read in its default format ("%08Xu%08Xv").
  explicit MaildirStore(std::string path_template);
  /// Same, with `[mail] uidl_format` ("popbox" or a Dovecot
  /// pop3_uidl_format) and `[mail] uidl_adopt_x_uidl`; throws
  /// std::invalid_argument for an unusable format.
  MaildirStore(std::string path_template, std::string_view uidl_format, bool adopt_x_uidl = false);

  /// Opens the maildrop of `req.user` (created if missing, mode 0700, owned
  /// by `req.owner`) and locks it exclusively; with an owner every later
  /// access goes through owned_mailbox(). ec: store_errc::bad_path for a
  /// user name that cannot map to a path, store_errc::in_use when locked
  /// elsewhere, store_errc::owner_refused when the ids cannot be taken on,
  /// else the errno.
  std::unique_ptr<Mailbox> open(const OpenRequest& req, std::error_code& ec) override;
  using Store::open;

  /// One file per recipient, written as its owner, crash-safe (see
  /// MaildirWriter) and counted in the Maildir's popbox-usage.
  std::unique_ptr<Delivery> begin_delivery(std::span<const DeliveryTarget> targets) override;
  /// The kept count of popbox-usage (rebuilt by a scan when missing,
  /// damaged or interrupted), read as `req.owner`.
  std::error_code usage(const OpenRequest& req, Usage& out) override;
  const MaildirPaths* maildir_paths() const noexcept override { return this; }

  /// The Maildir directory of `user` without touching the disk, or "" with
  /// ec = store_errc::bad_path (for logs and the `check` verb).
  std::string maildir_path(std::string_view user, std::error_code& ec) const override;

  /// The UIDL format sessions use.
  const std::shared_ptr<const UidlFormat>& uidl_format() const noexcept override {
    return uidl_format_;
  }
  /// Whether sessions may adopt X-UIDL headers.
  bool adopt_x_uidl() const noexcept override { return adopt_x_uidl_; }

 private:
  PathTemplate template_;
  std::shared_ptr<const UidlFormat> uidl_format_;
  bool adopt_x_uidl_ = false;
};

}  // namespace popbox::store
