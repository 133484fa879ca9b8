#pragma once
// Opening (and creating, if missing) the directories of one Maildir.

#include <string>
#include <system_error>

#include "store/maildir_scan.hpp"
#include "store/unique_fd.hpp"

namespace popbox::store::detail {

/// Open descriptors of a Maildir and its three directories.
struct MaildirDirs {
  UniqueFd root;
  UniqueFd new_dir;
  UniqueFd cur_dir;
  UniqueFd tmp_dir;

  /// The descriptor of new/ or cur/.
  int fd(Subdir sub) const noexcept {
    return sub == Subdir::cur_dir ? cur_dir.get() : new_dir.get();
  }
};

/// Closes every descriptor of a MaildirDirs when it goes out of scope.
class DirsScope {
 public:
  /// `dirs` must outlive the scope.
  explicit DirsScope(MaildirDirs& dirs) noexcept : dirs_(dirs) {}
  ~DirsScope() { dirs_ = MaildirDirs{}; }
  DirsScope(const DirsScope&) = delete;
  DirsScope& operator=(const DirsScope&) = delete;

 private:
  MaildirDirs& dirs_;
};

/// Whether open_maildir may create what is missing.
enum class Create { yes, no };

/// Opens the Maildir at `path`. The path itself may lead through symlinks;
/// new/ cur/ tmp/ must be real directories in it (store_errc::unsafe_path
/// otherwise, logged with the offending path). With Create::yes, missing
/// parts are created with mode 0700 (the path's parents, the Maildir, new/
/// cur/ tmp/), as Dovecot does on the first login, so a user gets a mailbox
/// before the first delivery. With Create::no a missing Maildir or
/// directory is not an error: its descriptor stays empty.
std::error_code open_maildir(const std::string& path, MaildirDirs& out,
                             Create create = Create::yes);

/// Logs (once, as a warning) which entry of the Maildir at `path` made an
/// operation fail with store_errc::unsafe_path: the first of new/ cur/ tmp/
/// and popbox's own files found to be a symlink, else the Maildir itself.
void log_unsafe_path(const std::string& path, int root_fd);

}  // namespace popbox::store::detail
