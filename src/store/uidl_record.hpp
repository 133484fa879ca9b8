#pragma once
// "popbox-uidls": the durable record of every UIDL popbox shows that the
// Maildir name alone would not give (adopted from an earlier server, or made
// unique with a suffix). Unlike popbox-index it is not a cache: it is never
// rebuilt, only appended to, and it travels with the Maildir.
//
// Format (text):
//   popbox-uidls 1
//   u <UIDL> <BASE, bytes <= 0x20, 0x7F and '%' as %XX>
//   closed <unix seconds>      adoption is over (written at the first session)
// The first line for a BASE wins. A line without its final newline (torn
// append) and any other malformed line are ignored.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace popbox::store::detail {

/// File names inside the Maildir directory.
inline constexpr char uidls_file_name[] = "popbox-uidls";
inline constexpr char uidls_tmp_name[] = "popbox-uidls.tmp";
/// A larger file is not one we wrote (~8 million entries).
inline constexpr std::uint64_t max_uidls_bytes = 512u << 20;

/// One recorded UIDL.
struct RecordedUidl {
  std::string base;
  std::string uidl;
};

/// The parsed popbox-uidls.
struct RecordedUidls {
  bool exists = false;                ///< the file was there
  bool closed = false;                ///< it has a "closed" line
  std::vector<RecordedUidl> entries;  ///< in file order, as written
  std::size_t bad_lines = 0;          ///< malformed or torn lines skipped
  bool ends_with_newline = true;      ///< safe to append without a '\n' first
};

/// Parses the file text (never fails; see the format above).
RecordedUidls parse_recorded_uidls(std::string_view text);

/// The line recording `uidl` for `base`, newline included.
std::string format_recorded_uidl(std::string_view base, std::string_view uidl);

/// A whole file: header, `entries`, and a "closed" line when `closed`.
std::string format_recorded_uidls(std::span<const RecordedUidl> entries, bool closed,
                                  std::int64_t now);

/// Reads popbox-uidls from the Maildir `dir_fd`. A missing file is not an
/// error (exists = false); any other failure to read it is.
std::error_code read_recorded_uidls(int dir_fd, RecordedUidls& out);

/// Adds `lines` (format_recorded_uidl's) to popbox-uidls in `dir_fd`,
/// durably, given what the file held (`current`, from read_recorded_uidls):
/// a missing file is created whole (header first), one ending in a newline
/// is appended to, and one with a torn last line is replaced atomically by
/// its complete lines and `lines`, so a fragment never becomes a record.
std::error_code add_recorded_uidls(int dir_fd, const RecordedUidls& current,
                                   std::string_view lines);

}  // namespace popbox::store::detail
