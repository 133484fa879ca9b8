#include "store/safe_open.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <string_view>

#include "store/mailbox.hpp"

namespace popbox::store::detail {
namespace {

// Known to be missing after the first ENOSYS: later calls go straight to
// the fallback instead of paying for a failing syscall each time.
std::atomic<bool> no_openat2{false};

// ELOOP from an O_NOFOLLOW open or RESOLVE_NO_SYMLINKS means "a symlink was
// in the way": the one answer the callers act on.
std::error_code classify(int err) {
  if (err == ELOOP) return store_errc::unsafe_path;
  return {err, std::system_category()};
}

// One component below `dir_fd`. O_NOFOLLOW refuses a symlink as the last
// (only) component; for a directory O_DIRECTORY|O_NOFOLLOW on a symlink gives
// ELOOP too, but ENOTDIR is possible on some file systems, so look again.
std::error_code open_component(int dir_fd, const std::string& name, int flags, mode_t mode,
                               UniqueFd& out) {
  out.reset(::openat(dir_fd, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode));
  if (out) return {};
  int err = errno;
  if (err == ENOTDIR) {
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
      err = ELOOP;
    }
  }
  return classify(err);
}

}  // namespace

std::error_code open_beneath_fallback(int dir_fd, const char* name, int flags, mode_t mode,
                                      UniqueFd& out) {
  std::string_view path = name;
  if (path.empty()) return std::make_error_code(std::errc::no_such_file_or_directory);
  if (path.front() == '/') return store_errc::unsafe_path;  // RESOLVE_BENEATH: EXDEV
  UniqueFd here;
  int at = dir_fd;
  for (;;) {
    std::size_t slash = path.find('/');
    std::string part(path.substr(0, slash));
    if (part == "..") return store_errc::unsafe_path;
    bool last = slash == std::string_view::npos;
    if (last) return open_component(at, part, flags, mode, out);
    if (!part.empty() && part != ".") {
      UniqueFd next;
      if (auto ec = open_component(at, part, O_RDONLY | O_DIRECTORY, 0, next)) return ec;
      here = std::move(next);
      at = here.get();
    }
    path.remove_prefix(slash + 1);
  }
}

std::error_code open_beneath(int dir_fd, const char* name, int flags, mode_t mode, UniqueFd& out) {
  if (!no_openat2.load(std::memory_order_relaxed)) {
    open_how how{};
    how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
    bool creates = (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
    how.mode = creates ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
    long fd;
    do {
      fd = ::syscall(SYS_openat2, dir_fd, name, &how, sizeof how);
    } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    if (fd >= 0) {
      out.reset(static_cast<int>(fd));
      return {};
    }
    if (errno != ENOSYS) {
      // RESOLVE_BENEATH answers EXDEV for ".." or an absolute path.
      return errno == EXDEV ? std::error_code(store_errc::unsafe_path) : classify(errno);
    }
    no_openat2.store(true, std::memory_order_relaxed);
  }
  return open_beneath_fallback(dir_fd, name, flags, mode, out);
}

UniqueFd open_cached(int dir_fd, const char* name, int flags, std::uint64_t resolve) {
  if (no_openat2.load(std::memory_order_relaxed)) return UniqueFd{};
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  how.resolve = resolve | RESOLVE_CACHED;
  long fd;
  do {
    fd = ::syscall(SYS_openat2, dir_fd, name, &how, sizeof how);
  } while (fd < 0 && errno == EINTR);
  return fd >= 0 ? UniqueFd(static_cast<int>(fd)) : UniqueFd{};
}

std::error_code open_dir_beneath(int dir_fd, const char* name, UniqueFd& out) {
  return open_beneath(dir_fd, name, O_RDONLY | O_DIRECTORY, 0, out);
}

}  // namespace popbox::store::detail
