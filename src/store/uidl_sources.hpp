#pragma once
// The files in which other POP3 servers left the UIDLs their clients saw:
//   dovecot-uidlist       Dovecot (v1 and v3 formats): IMAP UIDs, the
//                         UIDVALIDITY, and per message a saved POP3 UIDL
//                         ("P" field) or a GUID ("G" field)
//   courierpop3dsizelist  Courier pop3d (formats 2 and 3): "UID<n>-<uidv>"
// Parsers are pure and defensive: the files sit in a directory the mail user
// can write. A bad line is skipped and counted; a line without its final
// newline (a torn write) is skipped too.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/uidl_format.hpp"

namespace popbox::store::detail {

/// File names in the Maildir directory.
inline constexpr char dovecot_uidlist_name[] = "dovecot-uidlist";
inline constexpr char courier_sizelist_name[] = "courierpop3dsizelist";
/// Larger files are not read (a dovecot-uidlist line is ~60 octets: ~8M messages).
inline constexpr std::uint64_t max_source_bytes = 512u << 20;

/// One message line of dovecot-uidlist.
struct DovecotRecord {
  std::uint32_t uid = 0;
  std::string base;                      ///< the file name up to ':'
  std::optional<std::string> pop3_uidl;  ///< "P" field; "" means "the BASE"
  std::string guid;                      ///< "G" field, "" when absent
};

/// The parts of dovecot-uidlist that decide POP3 UIDLs.
struct DovecotUidlist {
  unsigned version = 0;  ///< 1 or 3
  std::uint32_t uidvalidity = 0;
  std::uint32_t next_uid = 0;
  /// In file order. A BASE may appear twice; like Dovecot, the later wins.
  std::vector<DovecotRecord> records;
  std::size_t bad_lines = 0;  ///< lines skipped as malformed
};

/// Parses dovecot-uidlist; nullopt when the header is unusable (empty file,
/// version 2 or unknown, UIDVALIDITY or next UID missing or zero): Dovecot
/// itself would have thrown such a file away.
std::optional<DovecotUidlist> parse_dovecot_uidlist(std::string_view text);

/// The UIDL Dovecot showed for `rec`: its saved POP3 UIDL if any, else
/// `format` applied to UID, UIDVALIDITY, BASE and GUID.
std::string dovecot_uidl(const DovecotUidlist& list, const DovecotRecord& rec,
                         const UidlFormat& format);

/// One message line of courierpop3dsizelist, with the UIDL Courier showed.
struct CourierRecord {
  std::string base;  ///< the file name up to ':'
  std::string uidl;  ///< "UID<n>-<uidv>" ("UID<n>" when uidv is 0)
};

/// The parsed courierpop3dsizelist.
struct CourierSizelist {
  std::vector<CourierRecord> records;  ///< in file order
  std::size_t bad_lines = 0;
};

/// Parses courierpop3dsizelist; nullopt without a "/2" or "/3" header line
/// (Courier ignored such a file and numbered every message anew).
std::optional<CourierSizelist> parse_courier_sizelist(std::string_view text);

}  // namespace popbox::store::detail
