#include "core/fd_io.hpp"

#include <unistd.h>

#include <cerrno>

namespace popbox::core {

std::error_code write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return {errno, std::system_category()};
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace popbox::core
