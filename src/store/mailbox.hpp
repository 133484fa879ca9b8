#pragma once
// The storage interface the protocols see: reading (Mailbox), delivery
// (Delivery), quota (usage) and error classes (failure). Maildir, memory
// and PostgreSQL are backends; nothing outside src/store knows how messages
// are kept.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace popbox::store {

class UidlFormat;

/// What a POP3 session knows about one message for its whole lifetime.
struct MessageInfo {
  std::string uidl;        ///< 1-70 octets of 0x21-0x7E; never changes, never reused.
  std::uint64_t size = 0;  ///< Octets RETR sends: CRLF line ends, final CRLF included.
};

/// Reads the stored bytes of one message, front to back, in blocks.
class MessageReader {
 public:
  virtual ~MessageReader() = default;
  /// Fills up to buf.size() bytes; returns 0 at the end, or sets ec on error.
  /// May block on the disk: call it on the blocking pool.
  virtual std::size_t read(std::span<char> buf, std::error_code& ec) = 0;
  /// Like read(), but never waits for the disk and needs no file-system
  /// ids, so an event thread may call it: nullopt when the next bytes are
  /// not in memory (or the reader cannot tell), and then read() on the pool
  /// goes on where this stopped. May return fewer bytes than read() would.
  virtual std::optional<std::size_t> read_nowait(std::span<char> buf, std::error_code& ec) {
    (void)buf;
    ec.clear();
    return std::nullopt;
  }
};

/// A locked snapshot of one maildrop, taken at login. The lock is held until
/// the object is destroyed; mail that arrives meanwhile is not in the snapshot.
class Mailbox {
 public:
  virtual ~Mailbox() = default;
  /// The messages in session order (message number = index + 1).
  virtual const std::vector<MessageInfo>& messages() const = 0;
  /// Opens message `index` for reading its stored bytes.
  virtual std::unique_ptr<MessageReader> open(std::size_t index, std::error_code& ec) = 0;
  /// The same without blocking and without switching fs ids, so an event
  /// thread may call it: a reader only when every lookup is answered from
  /// memory; otherwise nullptr, and open() on the pool does the work (and
  /// reports what went wrong). Saves a pool round trip per RETR/TOP.
  virtual std::unique_ptr<MessageReader> try_open_nowait(std::size_t index) {
    (void)index;
    return nullptr;
  }
  /// Ends the session: removes `deleted`, marks `retrieved` as seen. Durable
  /// (directories fsynced) when it returns without error.
  virtual std::error_code commit(std::span<const std::size_t> deleted,
                                 std::span<const std::size_t> retrieved) = 0;
  /// Whether message `index` was marked seen (by an earlier session's
  /// commit, or another program) when the snapshot was taken.
  virtual bool seen(std::size_t index) const {
    (void)index;
    return false;
  }
};

/// The ids a mailbox belongs to: every file-system access for it is made
/// with them (see core::FsIdGuard), so files it creates are theirs.
struct Owner {
  uid_t uid = 0;
  gid_t gid = 0;
  friend bool operator==(const Owner&, const Owner&) = default;
};

/// What Store::open needs to know of a user.
struct OpenRequest {
  std::string user;            ///< the passwd-file name the path template expands
  std::optional<Owner> owner;  ///< from the user's entry; none = the server user
};

/// One recipient of a delivery: whose mailbox, and the header lines put
/// before the shared body for that recipient alone (Return-Path,
/// Delivered-To), in wire form: each line ends in CRLF.
struct DeliveryTarget {
  OpenRequest mailbox;
  std::string prefix;
};

/// Writes one message body for one or more recipients (the recipients of
/// one LMTP transaction). Line-end contract: write() receives the message in
/// wire form, CRLF line ends, not dot-stuffed (LMTP DATA after the dot
/// decoder; `popbox deliver` converts its Unix-form stdin first); each
/// backend converts to the form it keeps (Maildir: LF, as Maildir readers
/// expect; memory and PostgreSQL: as given). A backend may keep the body
/// once for all recipients. Blocks (disk, database): use the blocking pool.
/// Destroying it before commit() is abort(): nothing becomes visible.
class Delivery {
 public:
  virtual ~Delivery() = default;
  /// Appends body bytes for every recipient still being written. An error
  /// only when no recipient is left (each one's reason comes from commit()).
  virtual std::error_code write(std::string_view bytes) = 0;
  /// Makes the message durable and visible in each recipient's mailbox;
  /// one result per target, in order (clear: durable, counted in usage()).
  /// A failure for one recipient leaves the others' results alone. Once.
  virtual std::vector<std::error_code> commit() = 0;
  /// Drops everything written: no recipient ever sees the message.
  virtual void abort() noexcept = 0;
};

/// Maildir paths, for the few callers that truly need them (`popbox check`,
/// the admin `mailbox stat`); only a Maildir-backed Store has them.
class MaildirPaths {
 public:
  virtual ~MaildirPaths() = default;
  /// The Maildir directory of `user` without touching the disk, or "" with
  /// ec = store_errc::bad_path.
  virtual std::string maildir_path(std::string_view user, std::error_code& ec) const = 0;
  /// The UIDL format sessions use.
  virtual const std::shared_ptr<const UidlFormat>& uidl_format() const noexcept = 0;
  /// Whether sessions may adopt X-UIDL headers.
  virtual bool adopt_x_uidl() const noexcept = 0;
};

/// A user's messages and their stored bytes, as quota counts them.
struct Usage {
  std::uint64_t bytes = 0;     ///< the backend's stored octets (Maildir: file sizes)
  std::uint64_t messages = 0;  ///< messages in the mailbox, read or not
  friend bool operator==(const Usage&, const Usage&) = default;
};

/// Finds, locks, fills and measures users' maildrops: the one seam between
/// the protocols and the way mail is kept (Maildir, PostgreSQL, memory).
/// Thread-safe. Every call may block: use the blocking pool.
class Store {
 public:
  virtual ~Store() = default;
  /// Opens the maildrop of `req.user` (created if missing) as `req.owner`
  /// and locks it exclusively. ec == failure::in_use when another session
  /// holds it; see failure for the other classes.
  virtual std::unique_ptr<Mailbox> open(const OpenRequest& req, std::error_code& ec) = 0;
  /// The same, as the server user.
  std::unique_ptr<Mailbox> open(const std::string& user, std::error_code& ec) {
    return open(OpenRequest{user, std::nullopt}, ec);
  }
  /// Starts one message for `targets` (see Delivery). Never null; problems
  /// of single recipients are reported by commit(). The default refuses
  /// every recipient with store_errc::unsupported.
  virtual std::unique_ptr<Delivery> begin_delivery(std::span<const DeliveryTarget> targets);
  /// What `req.user`'s maildrop holds now, from a kept count (not a scan):
  /// exact for mail that went through this Store, off by at most the
  /// messages of an operation a crash interrupted (see docs/DESIGN.md).
  /// A missing maildrop holds nothing and is not created. The default
  /// fails with store_errc::unsupported.
  virtual std::error_code usage(const OpenRequest& req, Usage& out);
  /// The Maildir paths, or nullptr for a backend without them.
  virtual const MaildirPaths* maildir_paths() const noexcept { return nullptr; }
};

/// Errors of the storage layer.
enum class store_errc {
  in_use = 1,    ///< another session holds the maildrop lock
  bad_path,      ///< the mailbox path template gave an unusable path
  io,            ///< the file system failed (see the log for errno)
  message_gone,  ///< a message of the snapshot vanished behind our back
  /// a symlink (or "..") below the Maildir root: refused, nothing behind it
  /// is touched. Compares equal to std::errc::operation_not_permitted, so
  /// callers treat it as a permanent failure an operator must fix.
  unsafe_path,
  /// the entry's uid/gid are refused (0, below [auth] first_valid_uid) or
  /// cannot be taken on (the server kept no CAP_SETUID/CAP_SETGID). Compares
  /// equal to std::errc::operation_not_permitted, like unsafe_path.
  owner_refused,
  unsupported,  ///< the backend cannot do this (permanent)
  unavailable,  ///< the backend cannot be reached now (temporary)
  /// a kept file of the store (e.g. Maildir's popbox-usage) is unreadable;
  /// it is rebuilt, so this is temporary
  damaged,
};

const std::error_category& store_category() noexcept;
inline std::error_code make_error_code(store_errc e) noexcept {
  return {static_cast<int>(e), store_category()};
}

}  // namespace popbox::store

template <>
struct std::is_error_code_enum<popbox::store::store_errc> : std::true_type {};

#include "store/failure.hpp"
