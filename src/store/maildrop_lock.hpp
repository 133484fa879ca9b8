#pragma once
// The exclusive lock of one maildrop for the length of a POP3 session.

#include <system_error>

#include "store/unique_fd.hpp"

namespace popbox::store::detail {

/// Name of the lock file inside the Maildir directory.
inline constexpr char lock_file_name[] = "popbox.lock";

/// flock(2) on a lock file in the Maildir. flock locks belong to an open file
/// description, so two sessions in one process exclude each other too, and
/// the kernel drops the lock when the holder dies: no stale locks.
class MaildropLock {
 public:
  /// Takes the lock of the Maildir at `dir_fd` without waiting. On failure the
  /// result does not hold it and ec is store_errc::in_use or the errno.
  static MaildropLock acquire(int dir_fd, std::error_code& ec);

  /// True while the lock is held.
  bool held() const noexcept { return static_cast<bool>(fd_); }

 private:
  UniqueFd fd_;  // closing the last descriptor of the description unlocks
};

}  // namespace popbox::store::detail
