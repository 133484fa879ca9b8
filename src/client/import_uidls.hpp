#pragma once
// Reading the UIDL lists other POP3 clients keep, so that `popbox fetch
// import` can take over an account without downloading again what the old
// tool already fetched. Pure parsers: text in, UIDLs out; no files.
//
//   fetchmail  .fetchids      `user@host UIDL` per line (`"user name"@host`
//                             when the name has a space)
//   getmail    oldmail-*      `UIDL\0timestamp` per line, one file per
//                             server and user
//   mpop       uidls_file     `#` comment lines, then blocks: a line
//                             ` COUNT HOST USER`, then COUNT UIDLs

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace popbox::client {

enum class ImportFormat { fetchmail, getmail, mpop };

/// The UIDLs found for one account and what was left out.
struct ImportedUidls {
  std::vector<std::string> uidls;  ///< in file order, without duplicates
  std::size_t other_accounts = 0;  ///< entries of another host or user
  std::size_t malformed = 0;       ///< lines that are not in the format
};

/// "fetchmail", "getmail" or "mpop"; nullopt otherwise.
std::optional<ImportFormat> parse_import_format(std::string_view name);

/// The UIDLs of `user` at `host` (host compared without case) in a
/// fetchmail .fetchids file.
ImportedUidls parse_fetchmail_ids(std::string_view text, std::string_view host,
                                  std::string_view user);

/// The UIDLs of a getmail oldmail file (the file is for one account).
ImportedUidls parse_getmail_oldmail(std::string_view text);

/// The UIDLs of `user` at `host` in an mpop uidls_file.
ImportedUidls parse_mpop_uidls(std::string_view text, std::string_view host, std::string_view user);

/// Dispatches to the parser for `format` (getmail ignores host and user).
ImportedUidls parse_imported_uidls(ImportFormat format, std::string_view text,
                                   std::string_view host, std::string_view user);

/// True when a getmail oldmail file name (`oldmail-HOST-PORT-USER`) names
/// another host or user; false for names in another form.
bool getmail_name_mismatch(std::string_view file_name, std::string_view host,
                           std::string_view user);

}  // namespace popbox::client
