#pragma once
// The exclusive lock of one maildrop for the length of a POP3 session.
//
// Two schemes (docs/DESIGN.md, "Maildrop locks"):
//  - shared: one lock file for the whole process ([mail] lock_file), one
//    descriptor, and per locked maildrop an OFD byte-range write lock
//    (F_OFD_SETLK) at an offset derived from the Maildir's (device, inode),
//    plus an in-process table, since locks of one open file description
//    never conflict with each other. A session holds no descriptor.
//  - per-Maildir: flock(2) on "popbox.lock" in the Maildir, one descriptor
//    per session (the scheme before issue 8; the fallback).
// Both sides look at the other scheme too, so a process that fell back (a
// CLI verb that cannot open the lock file) and the server still exclude
// each other, and a new process sees an older popbox's flock; an older
// popbox does not see the new scheme's ranges, so an upgrade restarts the
// server rather than running both. One host only: NFS-shared Maildirs need
// lock_file = "" (the flock scheme). The kernel drops every lock when its
// holder dies.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

#include "store/mailbox.hpp"
#include "store/unique_fd.hpp"

namespace popbox::store {

/// Makes every later maildrop lock of this process use the lock file at
/// `lock_file` (created mode 0600 if missing, and given to `owner` when the
/// process runs as root), so a session holds no descriptor for its lock.
/// "" selects per-Maildir flock. When the file cannot be opened for writing
/// the process falls back to per-Maildir flock (logged as a warning), and
/// still honours the shared locks of others if it can read the file. Call
/// at startup, before sessions exist and before dropping privileges.
void configure_maildrop_locks(const std::string& lock_file,
                              std::optional<Owner> owner = std::nullopt);

/// True when this process holds its maildrop locks in the shared lock file.
bool maildrop_locks_shared() noexcept;

}  // namespace popbox::store

namespace popbox::store::detail {

/// Name of the per-Maildir lock file (flock scheme) inside the Maildir.
inline constexpr char lock_file_name[] = "popbox.lock";

/// The byte of the shared lock file that stands for the Maildir with this
/// identity: a 62-bit hash, so distinct maildrops practically never share one.
std::uint64_t lock_offset(dev_t dev, ino_t ino) noexcept;

/// The lock of one maildrop, held while the object lives.
class MaildropLock {
 public:
  /// A lock that holds nothing.
  MaildropLock() = default;
  /// Takes over what `other` holds; `other` then holds nothing.
  MaildropLock(MaildropLock&& other) noexcept;
  /// Releases what this holds, then takes over `other`'s.
  MaildropLock& operator=(MaildropLock&& other) noexcept;
  /// Releases the lock (the kernel does as well if the process dies).
  ~MaildropLock();

  /// Takes the lock of the Maildir at `dir_fd` without waiting. On failure the
  /// result does not hold it and ec is store_errc::in_use or the errno.
  static MaildropLock acquire(int dir_fd, std::error_code& ec);

  /// True while the lock is held.
  bool held() const noexcept { return shared_ || static_cast<bool>(fd_); }

 private:
  void release() noexcept;

  bool shared_ = false;       // a range of the shared lock file
  std::uint64_t offset_ = 0;  // which one
  UniqueFd fd_;               // per-Maildir scheme: closing it unlocks
};

}  // namespace popbox::store::detail
