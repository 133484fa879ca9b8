#include "core/spool.hpp"

#include "core/fd_io.hpp"
#include "core/limits.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace popbox::core {
namespace {

std::error_code errno_code() {
  return {errno, std::system_category()};
}

}  // namespace

Spool::Spool(std::size_t memory_limit, std::string dir)
    : memory_limit_(memory_limit), dir_(std::move(dir)) {}

Spool::~Spool() {
  if (fd_ >= 0) ::close(fd_);
}

std::error_code Spool::append(std::string_view data) {
  size_ += data.size();
  if (fd_ < 0 && memory_.size() + data.size() <= memory_limit_) {
    memory_.append(data);
    return {};
  }
  if (fd_ < 0) {
    // O_TMPFILE: the file has no name, so nothing is left behind by a crash.
    fd_ = ::open(dir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd_ < 0) return errno_code();
    if (auto ec = write_all(fd_, memory_)) return ec;
    std::string().swap(memory_);
  }
  return write_all(fd_, data);
}

std::error_code Spool::for_each_block(
    const std::function<std::error_code(std::string_view)>& fn) const {
  if (fd_ < 0) return memory_.empty() ? std::error_code() : fn(memory_);
  std::vector<char> buf(limits::spool_block);
  off_t offset = 0;
  for (;;) {
    ssize_t n = ::pread(fd_, buf.data(), buf.size(), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_code();
    }
    if (n == 0) return {};
    offset += n;
    if (auto ec = fn(std::string_view(buf.data(), static_cast<std::size_t>(n)))) return ec;
  }
}

void Spool::clear() {
  memory_.clear();
  // An idle LMTP connection keeps no megabyte-sized buffer from its last message.
  if (memory_.capacity() > limits::retained_buffer) std::string().swap(memory_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  size_ = 0;
}

}  // namespace popbox::core
