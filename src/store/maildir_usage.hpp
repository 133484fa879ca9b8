#pragma once
// The kept usage count of one Maildir (the file popbox-usage in its root):
// updated under an flock at every delivery and every commit of DELEs, so
// Store::usage() reads a line instead of scanning new/ and cur/. Before a
// change the file is marked pending, after it the new total is written;
// a pending mark (a crash in between), a damaged line, or a line written
// before the last boot (writes not fsynced may be lost) makes the next
// reader rebuild it by a scan. So the count is exact for mail that went
// through popbox; programs that change the Maildir behind popbox's back
// are seen at the next rebuild (delete popbox-usage to force one).

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "store/mailbox.hpp"
#include "store/maildir_layout.hpp"
#include "store/unique_fd.hpp"

namespace popbox::store::detail {

/// The file's name in the Maildir root.
inline constexpr const char* usage_file_name = "popbox-usage";

/// Counts new/ and cur/ of `dirs` (",S=" hints, else st_size): the scan
/// the kept count replaces; missing directories hold nothing.
std::error_code scan_usage(const MaildirDirs& dirs, Usage& out);

/// The file's text for `u` (this boot's id in it; `pending`: a change is
/// under way).
std::string usage_text(const Usage& u, bool pending);
/// Reads the text usage_text() wrote: false for anything else (foreign,
/// torn, edited, pending, or from another boot), which callers rebuild.
bool parse_usage(std::string_view text, Usage& out);

/// The locked counter of one Maildir for the length of one operation.
class UsageCounter {
 public:
  /// Opens (creating, mode 0600, never through a symlink) and locks the
  /// counter of the Maildir whose root is `dirs.root`, then reads it, or
  /// rebuilds it by scan_usage() when it must. Check ec.
  UsageCounter(const MaildirDirs& dirs, std::error_code& ec);
  UsageCounter(const UsageCounter&) = delete;
  UsageCounter& operator=(const UsageCounter&) = delete;

  /// The count before this operation.
  const Usage& usage() const noexcept { return usage_; }
  /// Marks the count as changing: a crash before set() makes the next
  /// reader rebuild it.
  std::error_code begin_change();
  /// Records the new count (clears the pending mark).
  std::error_code set(const Usage& now);
  /// Adds (or with negative values removes) messages and bytes; a count
  /// that would go below zero is left pending, to be rebuilt.
  std::error_code add(std::int64_t bytes, std::int64_t messages);

 private:
  std::error_code write(const Usage& u, bool pending);

  UniqueFd fd_;  // flock(LOCK_EX) held while open
  Usage usage_;
};

/// Reads `dirs`' count (see UsageCounter), for Store::usage().
std::error_code kept_usage(const MaildirDirs& dirs, Usage& out);

}  // namespace popbox::store::detail
