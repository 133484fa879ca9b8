#pragma once
// A file descriptor owned by exactly one object, closed on destruction.

#include <unistd.h>

#include <utility>

namespace popbox::store::detail {

/// Owns a file descriptor; -1 means "none".
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  /// The descriptor, still owned by this object.
  int get() const noexcept { return fd_; }
  /// True when a descriptor is held.
  explicit operator bool() const noexcept { return fd_ >= 0; }
  /// Gives up ownership: the caller must close the returned descriptor.
  int release() noexcept { return std::exchange(fd_, -1); }
  /// Closes the held descriptor (if any) and takes ownership of `fd`.
  void reset(int fd = -1) noexcept {
    // close() errors on a read-only or directory descriptor carry no data loss.
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace popbox::store::detail
