#pragma once
// `popbox migrate postgres-to-maildir`'s Maildir side: writes messages
// with the UIDL, received time and seen flag they had in PostgreSQL. Each
// UIDL is recorded in popbox-uidls (docs/uidl.md) before its file appears,
// so the Maildir store shows exactly that UIDL; a crash between the two
// leaves a record whose file is missing, and the next run writes the file
// under the recorded name. Call it as the Maildir's owner, holding its lock.

#include <cstdint>
#include <map>
#include <string>
#include <system_error>

#include "store/maildir_layout.hpp"
#include "store/postgres/import.hpp"
#include "store/uidl_record.hpp"

namespace popbox::store::migrate {

class MaildirImporter {
 public:
  /// Opens (creating what is missing, mode 0700) the Maildir at `path` and
  /// reads its popbox-uidls.
  MaildirImporter(const std::string& path, std::error_code& ec);

  /// Writes the message `source` yields (wire form) under `facts`: tmp/,
  /// fsync, the UIDL recorded for BASE,S=<size>, then new/BASE,S=<size> (or
  /// cur/BASE,S=<size>:2,S when seen) with the received time as its mtime,
  /// then an fsync of that directory.
  /// `size` gets the octets of the file.
  std::error_code import(const pg::MessageFacts& facts, const pg::BodySource& source,
                         std::uint64_t& size);

 private:
  /// The BASE recorded for `uidl`, else records `base` (the new name) for it.
  std::error_code base_for(const std::string& uidl, std::string& base);
  std::error_code write_file(const std::string& tmp_name, const pg::MessageFacts& facts,
                             const pg::BodySource& source, std::uint64_t& size);

  detail::MaildirDirs dirs_;
  detail::RecordedUidls recorded_;
  std::map<std::string, std::string, std::less<>> base_of_uidl_;  ///< the first record wins
};

}  // namespace popbox::store::migrate
