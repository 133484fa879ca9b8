#pragma once
// The one loop that writes a whole buffer to a file descriptor, shared by
// every module that writes files (spool, Maildir writer, index, passwd-file).

#include <string_view>
#include <system_error>

namespace popbox::core {

/// Writes all of `data` to `fd`, retrying short writes and EINTR; returns
/// the errno of the first failure.
std::error_code write_all(int fd, std::string_view data);

}  // namespace popbox::core
