#include "store/maildir_layout.hpp"

#include "store/maildir_usage.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>

#include "core/log.hpp"
#include "store/mailbox.hpp"
#include "store/maildir_index.hpp"
#include "store/maildrop_lock.hpp"
#include "store/safe_open.hpp"
#include "store/uidl_record.hpp"
#include "store/uidl_sources.hpp"

namespace popbox::store::detail {
namespace {

constexpr mode_t dir_mode = 0700;  // mail is private to its user

std::error_code last_error() {
  return {errno, std::system_category()};
}

bool is_enoent(const std::error_code& ec) {
  return ec == std::errc::no_such_file_or_directory;
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

// Opens subdirectory `name` of `root`, creating it if missing. mkdirat does
// not follow a symlink either: a dangling one gives EEXIST, then the open
// refuses it.
std::error_code open_subdir(int root, const char* name, Create create, UniqueFd& out) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto ec = open_dir_beneath(root, name, out);
    if (!ec) return {};
    if (!is_enoent(ec) || attempt == 1) return ec;
    if (create == Create::no) return {};
    if (::mkdirat(root, name, dir_mode) != 0 && errno != EEXIST) return last_error();
  }
  return std::make_error_code(std::errc::no_such_file_or_directory);
}

}  // namespace

std::error_code open_maildir(const std::string& path, MaildirDirs& out, Create create) {
  out.root.reset(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!out.root && errno == ENOENT) {
    if (create == Create::no) return {};
    if (auto ec = make_dirs(path)) return ec;
    out.root.reset(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  if (!out.root) return last_error();
  std::error_code ec = open_subdir(out.root.get(), "new", create, out.new_dir);
  if (!ec) ec = open_subdir(out.root.get(), "cur", create, out.cur_dir);
  if (!ec) ec = open_subdir(out.root.get(), "tmp", create, out.tmp_dir);
  if (ec == store_errc::unsafe_path) log_unsafe_path(path, out.root.get());
  return ec;
}

void log_unsafe_path(const std::string& path, int root_fd) {
  static constexpr const char* names[] = {
      "new",          "cur",           "tmp",          lock_file_name,       index_file_name,
      index_tmp_name, uidls_file_name, uidls_tmp_name, dovecot_uidlist_name, courier_sizelist_name,
      usage_file_name};
  std::string where = path;
  for (const char* name : names) {
    struct stat st {};
    if (root_fd >= 0 && ::fstatat(root_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISLNK(st.st_mode)) {
      where = path + "/" + name;
      break;
    }
  }
  core::log_warn(fmt::format("event=unsafe_path path={} error=\"symlink refused\"", where));
}

}  // namespace popbox::store::detail
