// File helpers for the small metadata files of a Maildir.
#include "store/file_io.hpp"

#include "core/fd_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "store/safe_open.hpp"
#include "store/unique_fd.hpp"

namespace popbox::store::detail {
namespace {

constexpr std::string_view hex_digits = "0123456789ABCDEF";

bool needs_escape(unsigned char c) noexcept {
  return c <= 0x20 || c == 0x7F || c == '%';
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::error_code last_error() noexcept {
  return {errno, std::system_category()};
}

std::error_code read_whole_file(int dir_fd, const char* name, std::uint64_t max_bytes,
                                std::string& out) {
  out.clear();
  UniqueFd fd;
  if (auto ec = open_beneath(dir_fd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, fd)) return ec;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return last_error();
  if (!S_ISREG(st.st_mode) || st.st_size < 0) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    return std::make_error_code(std::errc::file_too_large);
  }
  out.resize(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd.get(), out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return last_error();
    if (n == 0) break;  // shrank while reading: keep what is there
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return {};
}

std::error_code write_all(int fd, std::string_view data) {
  return core::write_all(fd, data);
}

std::error_code replace_file(int dir_fd, const char* name, const char* tmp_name,
                             std::string_view data) {
  // Only the holder of the maildrop lock writes, so one fixed tmp name is
  // enough; O_TRUNC clears what a crashed writer left behind.
  UniqueFd fd;
  if (auto ec = open_beneath(dir_fd, tmp_name, O_WRONLY | O_CREAT | O_TRUNC | O_NOCTTY, 0600, fd)) {
    return ec;
  }
  std::error_code ec = write_all(fd.get(), data);
  if (!ec && ::fsync(fd.get()) != 0) ec = last_error();
  // close() can report a delayed write error (NFS), so it is checked here.
  if (::close(fd.release()) != 0 && !ec) ec = last_error();
  if (!ec && ::renameat(dir_fd, tmp_name, dir_fd, name) != 0) ec = last_error();
  if (ec) {
    ::unlinkat(dir_fd, tmp_name, 0);
    return ec;
  }
  if (::fsync(dir_fd) != 0) return last_error();
  return {};
}

std::error_code append_file(int dir_fd, const char* name, std::string_view data) {
  UniqueFd fd;
  if (auto ec = open_beneath(dir_fd, name, O_WRONLY | O_APPEND | O_NOCTTY, 0, fd)) return ec;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return last_error();
  if (!S_ISREG(st.st_mode)) return std::make_error_code(std::errc::invalid_argument);
  std::error_code ec = write_all(fd.get(), data);
  if (!ec && ::fsync(fd.get()) != 0) ec = last_error();
  if (::close(fd.release()) != 0 && !ec) ec = last_error();
  return ec;
}

void append_escaped(std::string& out, std::string_view s) {
  for (unsigned char c : s) {
    if (needs_escape(c)) {
      out += '%';
      out += hex_digits[c >> 4];
      out += hex_digits[c & 0xF];
    } else {
      out += static_cast<char>(c);
    }
  }
}

std::optional<std::string> unescape(std::string_view s) {
  // Most names need no escape: copy the plain prefix in one go.
  std::size_t plain = 0;
  while (plain < s.size() && s[plain] != '%' &&
         !needs_escape(static_cast<unsigned char>(s[plain]))) {
    ++plain;
  }
  std::string out(s.substr(0, plain));
  if (plain == s.size()) return out;
  out.reserve(s.size());
  for (std::size_t i = plain; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      auto v = static_cast<unsigned char>(hi * 16 + lo);
      // A second spelling of the same name would mean we did not write it.
      if (!needs_escape(v)) return std::nullopt;
      out += static_cast<char>(v);
      i += 2;
    } else if (needs_escape(c)) {
      return std::nullopt;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

bool valid_base(std::string_view base) noexcept {
  if (base.empty() || base[0] == '.') return false;
  // A plain loop: find_first_of calls memchr once per byte of `base`, which
  // was the largest cost of parsing a 100,000-message index.
  for (char c : base) {
    if (c == ':' || c == '/' || c == '\0') return false;
  }
  return true;
}

}  // namespace popbox::store::detail
