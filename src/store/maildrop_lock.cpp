#include "store/maildrop_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>

#include "store/mailbox.hpp"
#include "store/safe_open.hpp"

namespace popbox::store::detail {

MaildropLock MaildropLock::acquire(int dir_fd, std::error_code& ec) {
  ec.clear();
  MaildropLock lock;
  // A fresh open each time (never dup): a shared description would share the
  // lock. O_CLOEXEC keeps it out of children the server may spawn.
  UniqueFd fd;
  if ((ec = open_beneath(dir_fd, lock_file_name, O_RDWR | O_CREAT | O_NOCTTY, 0600, fd))) {
    return lock;
  }
  int rc;
  do {
    rc = ::flock(fd.get(), LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    ec = errno == EWOULDBLOCK ? std::error_code(store_errc::in_use)
                              : std::error_code(errno, std::system_category());
    return lock;
  }
  lock.fd_ = std::move(fd);
  return lock;
}

}  // namespace popbox::store::detail
