#include "auth/passwd_edit.hpp"

#include "core/fd_io.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <functional>
#include <utility>

#include "auth/passwd_file.hpp"

namespace popbox::auth {
namespace {

namespace fs = std::filesystem;

/// Closes a file descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  /// Closes now, reporting the error close() may return (NFS, quotas).
  int close() {
    const int r = ::close(fd_);
    fd_ = -1;
    return r;
  }

 private:
  int fd_;
};

[[noreturn]] void fail(EditErrc code, const std::string& what) {
  throw PasswdEditError(code, what);
}

/// Throws for the current errno, as `permission` where that is the cause.
[[noreturn]] void fail_errno(const std::string& what) {
  const int err = errno;
  fail(err == EACCES || err == EPERM ? EditErrc::permission : EditErrc::io,
       what + ": " + std::strerror(err));
}

/// Rejects characters that would end a field or a line early.
void check_field(std::string_view value, std::string_view what, bool colon_ok) {
  for (char c : value) {
    if (c == '\n' || c == '\r' || c == '\0' || (c == ':' && !colon_ok)) {
      fail(EditErrc::invalid,
           std::string(what) + (colon_ok ? " must not contain line breaks"
                                         : " must not contain ':' or line breaks"));
    }
  }
}

void check_password(std::string_view password) {
  if (password.empty()) fail(EditErrc::invalid, "empty stored password");
  check_field(password, "stored password", false);
}

/// The lines of `text`, each with its own line end (the last may lack one).
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::size_t len = nl == std::string_view::npos ? text.size() : nl + 1;
    lines.push_back(text.substr(0, len));
    text.remove_prefix(len);
  }
  return lines;
}

/// The line without its "\n" or "\r\n".
std::string_view content(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

std::string read_all(int fd, const fs::path& file) {
  std::string text;
  std::array<char, 16384> buf;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno("cannot read " + file.string());
    if (n == 0) return text;
    text.append(buf.data(), static_cast<std::size_t>(n));
  }
}

void write_all(int fd, std::string_view data, const std::string& name) {
  if (auto ec = core::write_all(fd, data)) {
    errno = ec.value();
    fail_errno("cannot write " + name);
  }
}

/// Edits go to the file a symlink points at, so the link itself survives.
fs::path resolve(const fs::path& file) {
  std::error_code ec;
  if (fs::is_symlink(fs::symlink_status(file, ec))) {
    fs::path target = fs::canonical(file, ec);
    if (!ec) return target;
  }
  return file;
}

fs::path parent_of(const fs::path& file) {
  return file.has_parent_path() ? file.parent_path() : fs::path(".");
}

/// Holds the exclusive edit lock until destroyed.
Fd lock_for(const fs::path& target) {
  const std::string name = target.string() + ".lock";
  Fd fd(::open(name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (fd.get() < 0) fail_errno("cannot open lock file " + name);
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) fail_errno("cannot lock " + name);
  }
  return fd;
}

/// Writes `data` to a new file next to `target` with the old file's owner
/// and mode (0600 if there was none), then renames it over `target`.
void replace_file(const fs::path& target, std::string_view data, const struct stat* old) {
  std::string tmp = target.string() + ".tmp.XXXXXX";
  Fd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (fd.get() < 0) fail_errno("cannot create a temporary file in " + parent_of(target).string());
  bool renamed = false;
  struct Cleanup {
    const std::string& path;
    const bool& done;
    ~Cleanup() {
      if (!done) ::unlink(path.c_str());
    }
  } cleanup{tmp, renamed};

  struct stat now {};
  if (::fstat(fd.get(), &now) != 0) fail_errno("cannot stat " + tmp);
  // chown before chmod: chown may clear set-id bits.
  if (old != nullptr && (now.st_uid != old->st_uid || now.st_gid != old->st_gid) &&
      ::fchown(fd.get(), old->st_uid, old->st_gid) != 0) {
    fail_errno("cannot give the new " + target.string() + " its old owner and group");
  }
  const mode_t mode = old != nullptr ? (old->st_mode & 07777) : 0600;
  if (::fchmod(fd.get(), mode) != 0) fail_errno("cannot set the mode of " + tmp);
  write_all(fd.get(), data, tmp);
  if (::fsync(fd.get()) != 0) fail_errno("cannot sync " + tmp);
  if (fd.close() != 0) fail_errno("cannot close " + tmp);
  if (::rename(tmp.c_str(), target.c_str()) != 0) fail_errno("cannot rename " + tmp);
  renamed = true;
  // The rename itself is durable only once the directory is synced.
  Fd dir(::open(parent_of(target).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0 || ::fsync(dir.get()) != 0) {
    fail_errno("cannot sync directory " + parent_of(target).string());
  }
}

/// Lock, read, transform, replace. `create`: a missing file counts as empty.
void edit_file(const fs::path& file, bool create,
               const std::function<std::string(std::string_view)>& edit) {
  const fs::path target = resolve(file);
  const Fd lock = lock_for(target);
  std::string text;
  std::optional<struct stat> old;
  Fd in(::open(target.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) {
    if (errno != ENOENT) fail_errno("cannot open " + file.string());
    if (!create) fail(EditErrc::no_file, file.string() + ": no such file");
  } else {
    old.emplace();
    if (::fstat(in.get(), &*old) != 0) fail_errno("cannot stat " + file.string());
    if (!S_ISREG(old->st_mode)) fail(EditErrc::io, file.string() + " is not a regular file");
    text = read_all(in.get(), file);
  }
  std::string out;
  try {
    out = edit(text);
  } catch (const PasswdEditError& e) {
    fail(e.code(), file.string() + ": " + e.what());
  }
  replace_file(target, out, old ? &*old : nullptr);
}

}  // namespace

std::string format_line(const NewUser& user) {
  if (!user.name.empty() && user.name.front() == '#') {
    fail(EditErrc::invalid, "user name must not start with '#'");
  }
  check_field(user.name, "user name", false);
  check_password(user.password);
  check_field(user.home, "home", false);
  check_field(user.extra, "extra fields", true);  // field 8 runs to the line end
  auto id = [](const std::optional<unsigned>& v) { return v ? std::to_string(*v) : std::string(); };
  std::vector<std::string> fields = {user.name, user.password, id(user.uid), id(user.gid),
                                     "",        user.home,     "",           user.extra};
  while (fields.size() > 2 && fields.back().empty()) fields.pop_back();
  std::string line;
  for (const std::string& f : fields) {
    if (!line.empty()) line += ':';
    line += f;
  }
  // Whatever the reader would complain about (spaces in the name, a very long
  // name) is refused here, so the line written is the line read back.
  const PasswdFile check = PasswdFile::parse(line, "new line");
  if (!check.warnings().empty()) {
    const std::string& w = check.warnings().front();
    fail(EditErrc::invalid, "cannot add user: " + w.substr(w.find(": ") + 2));
  }
  if (check.entries().size() != 1 || check.entries()[0].user != user.name) {
    fail(EditErrc::invalid, "cannot add user: the line would not read back");
  }
  return line;
}

std::string add_user_text(std::string_view text, const NewUser& user) {
  const std::string line = format_line(user);
  for (std::string_view l : split_lines(text)) {
    if (passwd_line_user(content(l)) == user.name) {
      fail(EditErrc::user_exists, "user " + user.name + " already exists");
    }
  }
  std::string out(text);
  if (!out.empty() && out.back() != '\n') out += '\n';
  return out + line + '\n';
}

std::string set_password_text(std::string_view text, std::string_view user,
                              std::string_view password) {
  check_password(password);
  const PasswdFile parsed = PasswdFile::parse(text, "");
  const PasswdEntry* entry = parsed.find(user);
  if (entry == nullptr) fail(EditErrc::no_such_user, "no user " + std::string(user));
  const std::vector<std::string_view> lines = split_lines(text);
  const std::string_view line = content(lines.at(entry->line - 1));
  // A valid entry has "user:" so field 2 starts after the first colon.
  const std::size_t start = line.find(':') + 1;
  const std::size_t end = std::min(line.find(':', start), line.size());
  const std::size_t at = static_cast<std::size_t>(line.data() - text.data());
  std::string out;
  out.reserve(text.size() + password.size());
  out.append(text.substr(0, at + start)).append(password).append(text.substr(at + end));
  return out;
}

std::string delete_user_text(std::string_view text, std::string_view user) {
  std::string out;
  bool found = false;
  for (std::string_view l : split_lines(text)) {
    if (!user.empty() && passwd_line_user(content(l)) == user) {
      found = true;
    } else {
      out.append(l);
    }
  }
  if (!found) fail(EditErrc::no_such_user, "no user " + std::string(user));
  return out;
}

void add_user(const fs::path& file, const NewUser& user) {
  (void)format_line(user);  // refuse bad input before touching the file
  edit_file(file, true, [&](std::string_view text) { return add_user_text(text, user); });
}

void set_password(const fs::path& file, std::string_view user, std::string_view password) {
  check_password(password);
  edit_file(file, false,
            [&](std::string_view text) { return set_password_text(text, user, password); });
}

void delete_user(const fs::path& file, std::string_view user) {
  edit_file(file, false, [&](std::string_view text) { return delete_user_text(text, user); });
}

std::vector<std::string> list_users(const fs::path& file, std::vector<std::string>* warnings) {
  Fd in(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) {
    if (errno == ENOENT) fail(EditErrc::no_file, file.string() + ": no such file");
    fail_errno("cannot open " + file.string());
  }
  const PasswdFile parsed = PasswdFile::parse(read_all(in.get(), file), file.string());
  if (warnings != nullptr) *warnings = parsed.warnings();
  std::vector<std::string> names;
  for (const PasswdEntry& e : parsed.entries()) names.push_back(e.user);
  return names;
}

}  // namespace popbox::auth
