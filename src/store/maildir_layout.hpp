#pragma once
// Opening (and creating, if missing) the directories of one Maildir.

#include <string>
#include <system_error>

#include "store/maildir_scan.hpp"
#include "store/unique_fd.hpp"

namespace popbox::store::detail {

/// Open descriptors of a Maildir and the two message directories.
struct MaildirDirs {
  UniqueFd root;
  UniqueFd new_dir;
  UniqueFd cur_dir;

  /// The descriptor of new/ or cur/.
  int fd(Subdir sub) const noexcept {
    return sub == Subdir::cur_dir ? cur_dir.get() : new_dir.get();
  }
};

/// Opens the Maildir at `path`. Missing parts are created with mode 0700
/// (the path's parents, the Maildir, new/ cur/ tmp/), as Dovecot does on the
/// first login, so a user gets a mailbox before the first delivery.
std::error_code open_maildir(const std::string& path, MaildirDirs& out);

}  // namespace popbox::store::detail
