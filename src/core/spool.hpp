#pragma once
// A message being received: kept in memory while small, moved to an
// anonymous temporary file when it grows, so a 1 GB message never sits in
// RAM. It is read back (possibly many times, once per recipient) in blocks.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>

#include "core/limits.hpp"

namespace popbox::core {

class Spool {
 public:
  /// Bytes kept in memory before spilling to a file in `dir`.
  explicit Spool(std::size_t memory_limit = limits::spool_memory, std::string dir = "/tmp");
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  /// Appends bytes.
  std::error_code append(std::string_view data);
  /// Total bytes appended.
  std::uint64_t size() const noexcept { return size_; }
  /// Calls `fn` on the content, front to back, in blocks; stops at the first
  /// error `fn` returns.
  std::error_code for_each_block(const std::function<std::error_code(std::string_view)>& fn) const;
  /// Empties the spool for the next message.
  void clear();

 private:
  std::size_t memory_limit_;
  std::string dir_;
  std::string memory_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

}  // namespace popbox::core
