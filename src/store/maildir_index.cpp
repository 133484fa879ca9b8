// Index parsing is defensive: the file sits in a directory the mail user can
// write, and a crash or a full disk can leave anything in it.
#include "store/maildir_index.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "store/unique_fd.hpp"

namespace popbox::store::detail {
namespace {

constexpr std::string_view header = "popbox-index 1\n";
constexpr std::string_view hex_digits = "0123456789ABCDEF";

std::uint64_t fnv1a(std::string_view data) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

bool needs_escape(unsigned char c) noexcept {
  return c <= 0x20 || c == 0x7F || c == '%';
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

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Strict inverse of append_escaped: a second spelling of the same name would
// mean the file was not written by us.
std::optional<std::string> unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      auto v = static_cast<unsigned char>(hi * 16 + lo);
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

// Reads one space-terminated number from `s` and advances past the space.
template <typename T>
bool take_number(std::string_view& s, T& value) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr == s.data() || ptr == s.data() + s.size() || *ptr != ' ') {
    return false;
  }
  s.remove_prefix(static_cast<std::size_t>(ptr - s.data()) + 1);
  return true;
}

bool valid_base(std::string_view base) noexcept {
  return !base.empty() && base[0] != '.' &&
         base.find_first_of(std::string_view(":/\0", 3)) == std::string_view::npos;
}

std::error_code last_error() {
  return {errno, std::system_category()};
}

std::error_code write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace

std::optional<std::vector<IndexEntry>> parse_index(std::string_view text) {
  if (text.substr(0, header.size()) != header) return std::nullopt;
  // The trailer is the last line; everything before it is checksummed.
  if (text.empty() || text.back() != '\n') return std::nullopt;
  std::size_t trailer_start = text.rfind('\n', text.size() - 2);
  if (trailer_start == std::string_view::npos || trailer_start + 1 < header.size()) {
    return std::nullopt;
  }
  ++trailer_start;
  std::string_view body = text.substr(header.size(), trailer_start - header.size());
  std::string_view trailer = text.substr(trailer_start);
  trailer.remove_suffix(1);  // '\n'
  if (trailer.substr(0, 4) != "end ") return std::nullopt;
  trailer.remove_prefix(4);
  std::uint64_t count = 0;
  if (!take_number(trailer, count)) return std::nullopt;
  std::uint64_t sum = 0;
  if (trailer.size() != 16) return std::nullopt;
  auto [ptr, ec] = std::from_chars(trailer.data(), trailer.data() + 16, sum, 16);
  if (ec != std::errc() || ptr != trailer.data() + 16) return std::nullopt;
  if (sum != fnv1a(text.substr(0, trailer_start))) return std::nullopt;
  // A line is at least "0 0 0 x\n"; this bounds the reservation below.
  if (count > body.size() / 8) return std::nullopt;

  std::vector<IndexEntry> entries;
  entries.reserve(static_cast<std::size_t>(count));
  while (!body.empty()) {
    std::size_t eol = body.find('\n');
    if (eol == std::string_view::npos) return std::nullopt;
    std::string_view line = body.substr(0, eol);
    body.remove_prefix(eol + 1);
    IndexEntry e;
    if (!take_number(line, e.file_size) || !take_number(line, e.mtime_ns) ||
        !take_number(line, e.crlf_size)) {
      return std::nullopt;
    }
    // CRLF conversion only adds octets: at most one CR per byte, plus the
    // final CRLF. Anything else is a damaged entry.
    if (e.crlf_size < e.file_size || e.file_size > (UINT64_MAX - 2) / 2 ||
        e.crlf_size > 2 * e.file_size + 2) {
      return std::nullopt;
    }
    auto base = unescape(line);
    if (!base || !valid_base(*base)) return std::nullopt;
    e.base = std::move(*base);
    entries.push_back(std::move(e));
  }
  if (entries.size() != count) return std::nullopt;
  return entries;
}

std::string format_index(std::span<const IndexEntry> entries) {
  std::string out(header);
  out.reserve(header.size() + entries.size() * 96 + 40);
  char num[24];
  auto append_number = [&](auto v) {
    auto res = std::to_chars(num, num + sizeof num, v);
    out.append(num, res.ptr);
    out += ' ';
  };
  for (const auto& e : entries) {
    append_number(e.file_size);
    append_number(e.mtime_ns);
    append_number(e.crlf_size);
    append_escaped(out, e.base);
    out += '\n';
  }
  std::uint64_t sum = fnv1a(out);
  out += "end ";
  append_number(static_cast<std::uint64_t>(entries.size()));
  char hex[17];
  for (int i = 15; i >= 0; --i) {
    hex[i] = "0123456789abcdef"[sum & 0xF];
    sum >>= 4;
  }
  out.append(hex, 16);
  out += '\n';
  return out;
}

IndexRead read_index(int dir_fd) {
  IndexRead result;
  UniqueFd fd(::openat(dir_fd, index_file_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd) {
    result.state = errno == ENOENT ? IndexRead::State::missing : IndexRead::State::invalid;
    return result;
  }
  result.state = IndexRead::State::invalid;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
      static_cast<std::uint64_t>(st.st_size) > max_index_bytes) {
    return result;
  }
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  text.resize(got);
  auto entries = parse_index(text);
  if (!entries) return result;
  result.state = IndexRead::State::loaded;
  result.entries = std::move(*entries);
  return result;
}

std::error_code write_index(int dir_fd, std::span<const IndexEntry> entries) {
  std::string text = format_index(entries);
  // Only the holder of the maildrop lock writes, so one fixed tmp name is
  // enough; O_TRUNC clears what a crashed writer left behind.
  UniqueFd fd(::openat(dir_fd, index_tmp_name,
                       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return last_error();
  std::error_code ec = write_all(fd.get(), text);
  if (!ec && ::fsync(fd.get()) != 0) ec = last_error();
  // close() can report a delayed write error (NFS), so it is checked here.
  if (::close(fd.release()) != 0 && !ec) ec = last_error();
  if (!ec && ::renameat(dir_fd, index_tmp_name, dir_fd, index_file_name) != 0) ec = last_error();
  if (ec) {
    ::unlinkat(dir_fd, index_tmp_name, 0);
    return ec;
  }
  if (::fsync(dir_fd) != 0) return last_error();
  return {};
}

}  // namespace popbox::store::detail
