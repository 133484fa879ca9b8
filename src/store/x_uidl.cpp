// Header collection is split-invariant: the same bytes in any blocks give
// the same header (tested at every split point).
#include "store/x_uidl.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "store/file_io.hpp"
#include "store/safe_open.hpp"
#include "store/unique_fd.hpp"

namespace popbox::store::detail {
namespace {

constexpr std::size_t read_block = 16 * 1024;

bool is_wsp(char c) noexcept {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (is_wsp(s.front()) || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (is_wsp(s.back()) || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

}  // namespace

void HeaderCollector::add(std::string_view block) {
  if (complete_) return;
  std::size_t room = max_header_scan - buf_.size();
  std::size_t scanned = buf_.size();
  buf_.append(block.substr(0, room));
  for (;;) {
    std::size_t nl = buf_.find('\n', std::max(scanned, line_start_));
    if (nl == std::string::npos) break;
    std::string_view line(buf_.data() + line_start_, nl - line_start_);
    if (line.empty() || line == "\r") {  // the blank line ends the header
      end_ = line_start_;
      complete_ = true;
      return;
    }
    line_start_ = nl + 1;
  }
  if (buf_.size() >= max_header_scan) {
    end_ = line_start_;  // a line cut in half is not trusted
    complete_ = true;
  }
}

void HeaderCollector::finish() noexcept {
  if (complete_) return;
  end_ = buf_.size();  // at the end of the file the last line is whole
  complete_ = true;
}

std::string_view HeaderCollector::header() const noexcept {
  return std::string_view(buf_).substr(0, complete_ ? end_ : line_start_);
}

std::optional<std::string> header_field(std::string_view header, std::string_view name) {
  std::optional<std::string> value;
  bool collecting = false;
  while (!header.empty()) {
    std::size_t eol = header.find('\n');
    std::string_view line = header.substr(0, eol);
    header.remove_prefix(eol == std::string_view::npos ? header.size() : eol + 1);
    if (!line.empty() && is_wsp(line[0])) {  // folded continuation
      if (collecting) value->append(line);
      continue;
    }
    if (collecting) break;
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view field = line.substr(0, colon);
    while (!field.empty() && is_wsp(field.back())) field.remove_suffix(1);  // obs-syntax
    if (iequals(field, name)) {
      value = std::string(line.substr(colon + 1));
      collecting = true;
    }
  }
  if (value) {
    // Drop the CRs of unfolded lines and the white space around the value.
    std::erase(*value, '\r');
    *value = std::string(trim(*value));
  }
  return value;
}

std::error_code read_x_uidl(int dir_fd, const std::string& name, std::optional<std::string>& out) {
  out.reset();
  UniqueFd fd;
  if (auto ec = open_beneath(dir_fd, name.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, fd)) {
    return ec;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return last_error();
  if (!S_ISREG(st.st_mode)) return std::make_error_code(std::errc::invalid_argument);
  HeaderCollector header;
  char buf[read_block];
  while (!header.complete()) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return last_error();
    if (n == 0) {
      header.finish();
      break;
    }
    header.add(std::string_view(buf, static_cast<std::size_t>(n)));
  }
  out = header_field(header.header(), "X-UIDL");
  return {};
}

}  // namespace popbox::store::detail
