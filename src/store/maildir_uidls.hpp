#pragma once
// Internal to MaildirMailbox: the UIDL facts gathered while a snapshot is
// built, per scanned file (the sorted output of scan_maildir).

#include <string>
#include <string_view>
#include <vector>

#include "store/maildir_mailbox.hpp"
#include "store/uidl_record.hpp"

namespace popbox::store {

struct MaildirMailbox::UidlSources {
  detail::RecordedUidls recorded;
  bool adopt = false;          ///< earlier servers' UIDLs may still be adopted
  bool need_previous = false;  ///< look at earlier servers' files (adopt, or a report)
  bool serve = true;           ///< MaildirOptions::Mode::serve
  bool adopt_x_uidl = false;   ///< MaildirOptions::adopt_x_uidl

  std::vector<std::string_view> recorded_of;   ///< into `recorded`; "" if none
  std::vector<std::string_view> gone;          ///< recorded UIDLs of absent messages
  std::vector<std::string> previous_of;        ///< what an earlier server showed
  std::vector<UidlSource> previous_source_of;  ///< which server; name if none
  std::vector<std::string> x_uidl_of;          ///< reports only: the X-UIDL header

  /// True when file `i`'s X-UIDL header should be read: a report wants
  /// every one; a session only when X-UIDL may be adopted and nothing else
  /// is known about the message.
  bool wants_x_uidl(std::size_t i) const {
    if (!serve) return true;
    return adopt_x_uidl && need_previous && previous_of[i].empty() && recorded_of[i].empty();
  }
};

}  // namespace popbox::store
