#include "store/maildrop_lock.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <unordered_set>

#include "core/log.hpp"
#include "core/privileges.hpp"
#include "store/safe_open.hpp"

namespace popbox::store {
namespace {

// The process-wide state of the shared scheme. The mutex also orders the
// kernel calls of lock and unlock: a range is unlocked before its entry
// leaves the table, so a new holder's lock is never undone by an old one.
struct Registry {
  std::mutex mutex;
  detail::UniqueFd fd;        // O_RDWR: this process uses the shared scheme
  detail::UniqueFd probe_fd;  // O_RDONLY: fallback that still sees others' ranges
  std::unordered_set<std::uint64_t> held;
};

Registry& registry() {
  static Registry r;
  return r;
}

std::error_code last_error() {
  return {errno, std::system_category()};
}

// One F_OFD_* call on the single byte at `offset`; `fl` receives the answer.
int ofd_call(int fd, int cmd, short type, std::uint64_t offset, struct flock& fl) {
  fl = {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(offset);
  fl.l_len = 1;
  fl.l_pid = 0;  // required by the OFD commands
  int rc;
  do {
    rc = ::fcntl(fd, cmd, &fl);
  } while (rc != 0 && errno == EINTR);
  return rc;
}

std::uint64_t mix(std::uint64_t x) noexcept {  // splitmix64's finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// flock on popbox.lock in the Maildir, without waiting. `fd` is left open
// (holding the lock) on success.
std::error_code take_flock(int dir_fd, detail::UniqueFd& fd) {
  // A fresh open each time (never dup): a shared description would share the
  // lock. O_CLOEXEC keeps it out of children the server may spawn.
  if (auto ec = detail::open_beneath(dir_fd, detail::lock_file_name, O_RDWR | O_CREAT | O_NOCTTY,
                                     0600, fd)) {
    return ec;
  }
  int rc;
  do {
    rc = ::flock(fd.get(), LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) return {};
  auto ec = errno == EWOULDBLOCK ? std::error_code(store_errc::in_use) : last_error();
  fd.reset();
  return ec;
}

}  // namespace

void configure_maildrop_locks(const std::string& lock_file, std::optional<Owner> owner) {
  Registry& r = registry();
  std::lock_guard guard(r.mutex);
  r.fd.reset();
  r.probe_fd.reset();
  r.held.clear();
  if (lock_file.empty()) return;
  // O_NOFOLLOW: a symlink planted there must not make root create or lock
  // a file elsewhere. Never truncated: the file holds no data, only ranges.
  constexpr int flags = O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;
  // The default lives in /run/popbox, which a reboot empties: make the
  // directory (one level, root's, world-searchable) if it is missing.
  if (auto slash = lock_file.rfind('/'); slash != std::string::npos && slash > 0) {
    std::string dir = lock_file.substr(0, slash);
    // chmod too: a umask (the unit's UMask=0077) would leave it 0700, and CLI
    // verbs run as the service user could then not reach the lock file.
    if (::mkdir(dir.c_str(), 0755) == 0) ::chmod(dir.c_str(), 0755);  // else open says
  }
  detail::UniqueFd fd(::open(lock_file.c_str(), O_RDWR | O_CREAT | flags, 0600));
  if (!fd && errno == EACCES && owner && ::geteuid() == 0) {
    // The file a previous run gave to the service user (0600), and root
    // without CAP_DAC_OVERRIDE (as in the systemd unit): open it as its owner.
    std::error_code id_ec;
    core::FsIdGuard as_owner(owner->uid, owner->gid, id_ec);
    if (!id_ec) fd.reset(::open(lock_file.c_str(), O_RDWR | flags));
    if (!fd && id_ec) errno = EACCES;  // else the owner's open's own errno says why
  }
  std::error_code ec;
  struct stat st {};
  if (!fd) {
    ec = last_error();
  } else if (::fstat(fd.get(), &st) != 0) {
    ec = last_error();
  } else if (!S_ISREG(st.st_mode)) {
    ec = std::make_error_code(std::errc::invalid_argument);
  } else if (owner && ::geteuid() == 0 && (st.st_uid != owner->uid || st.st_gid != owner->gid) &&
             ::fchown(fd.get(), owner->uid, owner->gid) != 0) {
    ec = last_error();
  }
  if (!ec) {
    r.fd = std::move(fd);
    return;
  }
  r.probe_fd.reset(::open(lock_file.c_str(), O_RDONLY | flags));
  core::log_warn(
      fmt::format("event=maildrop_lock_fallback lock_file={} error=\"{}\" scheme=per-maildir-flock "
                  "sees_shared_locks={}",
                  core::log_escape(lock_file), ec.message(), r.probe_fd ? "yes" : "no"));
}

bool maildrop_locks_shared() noexcept {
  Registry& r = registry();
  std::lock_guard guard(r.mutex);
  return static_cast<bool>(r.fd);
}

}  // namespace popbox::store

namespace popbox::store::detail {

std::uint64_t lock_offset(dev_t dev, ino_t ino) noexcept {
  std::uint64_t h = mix(static_cast<std::uint64_t>(dev) ^ mix(static_cast<std::uint64_t>(ino)));
  // Below 2^62: start + length stays far from OFF_T_MAX.
  return h >> 2;
}

MaildropLock::MaildropLock(MaildropLock&& other) noexcept
    : shared_(std::exchange(other.shared_, false)),
      offset_(other.offset_),
      fd_(std::move(other.fd_)) {}

MaildropLock& MaildropLock::operator=(MaildropLock&& other) noexcept {
  if (this != &other) {
    release();
    shared_ = std::exchange(other.shared_, false);
    offset_ = other.offset_;
    fd_ = std::move(other.fd_);
  }
  return *this;
}

MaildropLock::~MaildropLock() {
  release();
}

void MaildropLock::release() noexcept {
  fd_.reset();
  if (!shared_) return;
  shared_ = false;
  Registry& r = registry();
  std::lock_guard guard(r.mutex);
  struct flock fl {};
  if (r.fd) ofd_call(r.fd.get(), F_OFD_SETLK, F_UNLCK, offset_, fl);
  r.held.erase(offset_);
}

MaildropLock MaildropLock::acquire(int dir_fd, std::error_code& ec) {
  ec.clear();
  MaildropLock lock;
  struct stat st {};
  if (::fstat(dir_fd, &st) != 0) {
    ec = last_error();
    return lock;
  }
  const std::uint64_t offset = lock_offset(st.st_dev, st.st_ino);
  Registry& r = registry();
  int probe_fd = -1;
  {
    std::lock_guard guard(r.mutex);
    if (r.fd) {
      if (r.held.count(offset) != 0) {
        ec = store_errc::in_use;
        return lock;
      }
      struct flock fl {};
      if (ofd_call(r.fd.get(), F_OFD_SETLK, F_WRLCK, offset, fl) != 0) {
        ec =
            errno == EAGAIN || errno == EACCES ? std::error_code(store_errc::in_use) : last_error();
        return lock;
      }
      r.held.insert(offset);
      lock.shared_ = true;
      lock.offset_ = offset;
    } else if (r.probe_fd) {
      probe_fd = r.probe_fd.get();  // lives until the next configure (startup only)
    }
  }
  // Take our scheme's lock, then look at the other scheme's: of two
  // processes doing this in opposite schemes, at least one sees the other.
  UniqueFd flock_fd;
  ec = take_flock(dir_fd, flock_fd);
  if (lock.shared_) {
    // Only a look: the flock is dropped again at once. A Maildir where the
    // file cannot be made (read-only) has no flock holder to fear.
    if (ec == store_errc::in_use || ec == store_errc::unsafe_path) {
      lock.release();
      return lock;
    }
    ec.clear();
    return lock;
  }
  if (ec) return lock;
  if (probe_fd >= 0) {
    struct flock fl {};
    if (ofd_call(probe_fd, F_OFD_GETLK, F_WRLCK, offset, fl) == 0 && fl.l_type != F_UNLCK) {
      ec = store_errc::in_use;
      return lock;  // flock_fd closes: unlocked
    }
  }
  lock.fd_ = std::move(flock_fd);
  return lock;
}

}  // namespace popbox::store::detail
