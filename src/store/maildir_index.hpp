#pragma once
// The per-Maildir size cache ("popbox-index"): for each message BASE, in
// first-seen order, the file size and mtime it was measured at and its RETR
// size. It is only a cache of what the files say, plus the session order;
// any doubt about it means: ignore it and measure again.
//
// Format (text, so an admin can read it):
//   popbox-index 1
//   <file size> <mtime ns> <RETR size> <BASE, bytes <= 0x20, 0x7F and '%' as %XX>
//   ...
//   end <entry count> <FNV-1a 64 of all bytes before this line, 16 hex digits>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace popbox::store::detail {

/// File name of the index inside the Maildir directory.
inline constexpr char index_file_name[] = "popbox-index";
/// Temporary name while a new index is written; renamed over the old one.
inline constexpr char index_tmp_name[] = "popbox-index.tmp";
/// A larger file is not an index we wrote (about 4 million messages).
inline constexpr std::uint64_t max_index_bytes = 512u << 20;

/// What the index remembers about one message.
struct IndexEntry {
  std::string base;
  std::uint64_t file_size = 0;
  std::int64_t mtime_ns = 0;
  std::uint64_t crlf_size = 0;
};

/// Parses index text; nullopt for anything that is not a complete, intact
/// index of this version (truncated, garbage, foreign). A BASE listed twice
/// is not looked for here (a hash set costs ~10% of a warm open); the caller
/// meets duplicates anyway while matching entries to files.
std::optional<std::vector<IndexEntry>> parse_index(std::string_view text);

/// The index text for `entries` (in this order).
std::string format_index(std::span<const IndexEntry> entries);

/// Outcome of reading the index file.
struct IndexRead {
  /// unsafe: the index is a symlink (the mailbox must not be used).
  enum class State { missing, invalid, loaded, unsafe };
  State state = State::missing;
  std::vector<IndexEntry> entries;
};

/// Reads and parses the index in the Maildir directory `dir_fd`. Never fails:
/// an unreadable or broken index reads as missing/invalid, a symlink as unsafe.
IndexRead read_index(int dir_fd);

/// Replaces the index atomically (tmp file, fsync, rename, fsync dir).
std::error_code write_index(int dir_fd, std::span<const IndexEntry> entries);

}  // namespace popbox::store::detail
