#include "store/maildir_layout.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

namespace popbox::store::detail {
namespace {

constexpr mode_t dir_mode = 0700;  // mail is private to its user

std::error_code last_error() {
  return {errno, std::system_category()};
}

// mkdir -p: each prefix in turn; EEXIST means another session won the race
// (or the prefix was there), both fine.
std::error_code make_dirs(const std::string& path) {
  for (std::size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    if (path[pos - 1] == '/') continue;  // "//" or a trailing '/'
    std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), dir_mode) != 0 && errno != EEXIST) return last_error();
  }
  return {};
}

// Opens subdirectory `name` of `root`, creating it if missing.
std::error_code open_subdir(int root, const char* name, UniqueFd& out, bool& created) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    out.reset(::openat(root, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (out) return {};
    if (errno != ENOENT || attempt == 1) break;
    if (::mkdirat(root, name, dir_mode) != 0 && errno != EEXIST) return last_error();
    created = true;
  }
  return last_error();
}

}  // namespace

std::error_code open_maildir(const std::string& path, MaildirDirs& out) {
  bool created = false;
  out.root.reset(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!out.root && errno == ENOENT) {
    if (auto ec = make_dirs(path)) return ec;
    created = true;
    out.root.reset(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  if (!out.root) return last_error();
  if (auto ec = open_subdir(out.root.get(), "new", out.new_dir, created)) return ec;
  if (auto ec = open_subdir(out.root.get(), "cur", out.cur_dir, created)) return ec;
  // tmp/ is only used by delivery agents; make it with the others so the
  // Maildir is complete, and do not look for it on every login.
  if (created && ::mkdirat(out.root.get(), "tmp", dir_mode) != 0 && errno != EEXIST) {
    return last_error();
  }
  return {};
}

}  // namespace popbox::store::detail
