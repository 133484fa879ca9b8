#include "auth/passwd_file.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include "auth/password_scheme.hpp"
#include "core/limits.hpp"

namespace popbox::auth {
namespace {

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t") == std::string_view::npos;
}

std::optional<unsigned> parse_id(std::string_view s, bool& ok) {
  ok = true;
  if (s.empty()) return std::nullopt;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) ok = false;
  return ok ? std::optional<unsigned>(v) : std::nullopt;
}

/// Why `user` cannot be a user name, or nullptr if it can. Spaces and
/// control characters could never arrive in a USER command intact.
const char* bad_user_name(std::string_view user) {
  if (user.empty()) return "empty user name";
  if (user.size() > limits::max_user_name) return "user name too long";
  for (unsigned char c : user) {
    if (c <= 0x20 || c == 0x7f) return "space or control character in user name";
  }
  return nullptr;
}

void wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
}

}  // namespace

std::string_view passwd_line_user(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (blank(line) || line.front() == '#') return {};
  return line.substr(0, line.find(':'));
}

// Entries may hold clear-text passwords; do not leave them in freed memory
// after a reload swaps a snapshot out.
void PasswdFile::wipe_passwords() noexcept {
  for (PasswdEntry& e : entries_) wipe(e.password);
}

PasswdFile::~PasswdFile() {
  wipe_passwords();
}

PasswdFile& PasswdFile::operator=(PasswdFile&& other) noexcept {
  if (this != &other) {
    wipe_passwords();
    entries_ = std::move(other.entries_);
    index_ = std::move(other.index_);
    warnings_ = std::move(other.warnings_);
  }
  return *this;
}

PasswdFile PasswdFile::load(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error("cannot open " + path.string() + ": " + std::strerror(errno));
  }
  std::string text;
  // Sized up front: growing would free copies of the passwords unwiped.
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0)
    text.reserve(static_cast<std::size_t>(st.st_size) + 1);
  std::array<char, 16384> buf;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      wipe(text);
      throw std::runtime_error("cannot read " + path.string() + ": " + std::strerror(err));
    }
    if (n == 0) break;
    text.append(buf.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  sodium_memzero(buf.data(), buf.size());
  PasswdFile f = parse(text, path.string());
  wipe(text);
  return f;
}

PasswdFile PasswdFile::parse(std::string_view text, std::string_view name) {
  PasswdFile f;
  auto warn = [&](std::size_t line, std::string_view reason) {
    f.warnings_.push_back(std::string(name) + ":" + std::to_string(line) + ": " +
                          std::string(reason));
  };
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (blank(line) || line.front() == '#') continue;

    // Fields 1-7 end at a colon; everything after the 7th colon is field 8.
    std::array<std::string_view, 8> field{};
    std::size_t count = 0;
    std::string_view rest = line;
    for (;;) {
      if (count == 7) {
        field[count++] = rest;
        break;
      }
      const std::size_t colon = rest.find(':');
      field[count++] = rest.substr(0, colon);
      if (colon == std::string_view::npos) break;
      rest = rest.substr(colon + 1);
    }

    if (const char* why = bad_user_name(field[0])) {
      warn(line_no, why);
      continue;
    }
    if (count < 2) {
      warn(line_no, "no password field (expected user:password[:...])");
      continue;
    }
    bool uid_ok = true, gid_ok = true;
    PasswdEntry e;
    e.uid = parse_id(field[2], uid_ok);
    e.gid = parse_id(field[3], gid_ok);
    if (!uid_ok || !gid_ok) {
      warn(line_no, uid_ok ? "gid is not a number" : "uid is not a number");
      continue;
    }
    if (auto it = f.index_.find(field[0]); it != f.index_.end()) {
      warn(line_no, "duplicate user " + std::string(field[0]) + " ignored (first on line " +
                        std::to_string(f.entries_[it->second].line) + ")");
      continue;
    }
    e.user = field[0];
    e.password = field[1];
    e.gecos = field[4];
    e.home = field[5];
    e.shell = field[6];
    e.extra = field[7];
    e.line = line_no;
    // Such users stay known (lookup works) but can never log in.
    if (e.password.empty()) {
      warn(line_no, "empty password: " + e.user + " cannot log in");
    } else if (const std::string scheme = split_scheme(e.password).scheme;
               !scheme_supported(scheme)) {
      warn(line_no, "unknown password scheme " + scheme + ": " + e.user + " cannot log in");
    }
    f.index_.emplace(e.user, f.entries_.size());
    f.entries_.push_back(std::move(e));
  }
  return f;
}

const PasswdEntry* PasswdFile::find(std::string_view user) const {
  auto it = index_.find(user);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

bool has_other_owner(const PasswdFile& file, unsigned uid, unsigned gid) {
  for (const PasswdEntry& e : file.entries()) {
    if ((e.uid && *e.uid != uid) || (e.gid && *e.gid != gid)) return true;
  }
  return false;
}

}  // namespace popbox::auth
