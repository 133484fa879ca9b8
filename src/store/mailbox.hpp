#pragma once
// The storage interface the POP3 core sees. Maildir is the first backend;
// nothing outside src/store knows how messages are kept on disk.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace popbox::store {

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

/// Finds and locks a user's maildrop.
class Store {
 public:
  virtual ~Store() = default;
  /// Opens the maildrop of `req.user` (created if missing) as `req.owner`
  /// and locks it exclusively. ec is store_errc::in_use when another
  /// session holds it, store_errc::owner_refused when the ids cannot be used.
  virtual std::unique_ptr<Mailbox> open(const OpenRequest& req, std::error_code& ec) = 0;
  /// The same, as the server user.
  std::unique_ptr<Mailbox> open(const std::string& user, std::error_code& ec) {
    return open(OpenRequest{user, std::nullopt}, ec);
  }
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
};

const std::error_category& store_category() noexcept;
inline std::error_code make_error_code(store_errc e) noexcept {
  return {static_cast<int>(e), store_category()};
}

}  // namespace popbox::store

template <>
struct std::is_error_code_enum<popbox::store::store_errc> : std::true_type {};
