#pragma once
// The warm snapshot ("popbox-snapshot"): everything a POP3 session needs of
// a Maildir (names, RETR sizes, UIDLs, order), stamped with the identity
// and modification time of new/, cur/ and popbox-uidls. While those stamps
// are unchanged and were not "dirty" when taken (Dovecot's rule: a
// directory changed within maildir_sync_secs of its listing may change
// again within the same timestamp), a login uses it without listing the
// directories. Any doubt means: list the Maildir as before.
//
// Format (text, so an admin can read it):
//   popbox-snapshot 1
//   stamps <scan ns> <new/: mtime ns> <ino> <size> <cur/: ...> <popbox-uidls: ...>
//   <n|c> <file size> <mtime ns> <RETR size> <name> <UIDL, or % for the one its BASE gives>
//   ...
//   end <entry count> <first 16 hex digits of SHA-256 of all bytes before this line>
// name and UIDL are escaped as in popbox-index (bytes <= 0x20, 0x7F, '%').

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "store/maildir_scan.hpp"

namespace popbox::store::detail {

/// File name of the snapshot inside the Maildir directory.
inline constexpr char snapshot_file_name[] = "popbox-snapshot";
/// Temporary name while a new snapshot is written.
inline constexpr char snapshot_tmp_name[] = "popbox-snapshot.tmp";

/// What a stat(2) says about a file or directory that changes it.
struct FileStamp {
  std::int64_t mtime_ns = 0;
  std::uint64_t ino = 0;
  std::uint64_t size = 0;
  friend bool operator==(const FileStamp&, const FileStamp&) = default;
};

/// The stamp of a stat result.
FileStamp stamp_of(const struct stat& st) noexcept;

/// The state of the Maildir a snapshot describes.
struct SnapshotStamps {
  std::int64_t scan_ns = 0;  ///< CLOCK_REALTIME just before the stamps were taken
  FileStamp new_dir, cur_dir, uidls;
  friend bool operator==(const SnapshotStamps&, const SnapshotStamps&) = default;

  /// True when new/ or cur/ changed within `window_ns` before the scan (or
  /// after it): a later change could keep the same mtime.
  bool dirty(std::int64_t window_ns) const noexcept;
};

/// One message of a snapshot.
struct SnapshotEntry {
  ScannedFile file;
  std::uint64_t crlf_size = 0;
  std::string uidl;
};

/// A parsed snapshot.
struct Snapshot {
  SnapshotStamps stamps;
  std::vector<SnapshotEntry> entries;
};

/// Parses snapshot text; nullopt for anything that is not a complete, intact
/// snapshot of this version. Every name is a valid message name and every
/// UIDL valid (uniqueness is the writer's: the file is the mail user's own).
std::optional<Snapshot> parse_snapshot(std::string_view text);

/// The snapshot text (entries in this order).
std::string format_snapshot(const Snapshot& snapshot);

/// Reads and parses the snapshot of the Maildir directory `dir_fd`; nullopt
/// when it is missing, unreadable, a symlink or not intact.
std::optional<Snapshot> read_snapshot(int dir_fd);

/// Replaces the snapshot atomically (tmp file, fsync, rename, fsync dir).
std::error_code write_snapshot(int dir_fd, const Snapshot& snapshot);

}  // namespace popbox::store::detail
