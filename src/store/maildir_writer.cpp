#include "store/maildir_writer.hpp"

#include "core/fd_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>

#include "store/mailbox.hpp"
#include "store/maildir_usage.hpp"
#include "store/safe_open.hpp"

namespace popbox::store {
namespace {

std::error_code errno_code() {
  return {errno, std::system_category()};
}

// Opens the Maildir at `maildir` (creating what is missing) and checks that
// the directories a delivery writes to are really there.
std::error_code open_dirs(const std::string& maildir, detail::MaildirDirs& dirs) {
  if (auto ec = detail::open_maildir(maildir, dirs, detail::Create::yes)) return ec;
  return {};
}

std::string host_part() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "localhost";
  // '/' and ':' cannot appear in a Maildir name (Maildir spec: \057, \072).
  std::string out;
  for (char* p = host; *p; ++p) {
    if (*p == '/') {
      out += "\\057";
    } else if (*p == ':') {
      out += "\\072";
    } else {
      out += *p;
    }
  }
  return out;
}

}  // namespace

std::string new_maildir_base() {
  static std::atomic<std::uint64_t> counter{0};
  static const std::string host = host_part();
  timeval tv{};
  gettimeofday(&tv, nullptr);
  return std::to_string(tv.tv_sec) + ".M" + std::to_string(tv.tv_usec) + "P" +
         std::to_string(getpid()) + "Q" + std::to_string(++counter) + "." + host;
}

MaildirWriter::MaildirWriter(const std::string& maildir, std::error_code& ec) : maildir_(maildir) {
  ec = open_dirs(maildir_, dirs_);
  if (ec) return;
  unique_ = new_maildir_base();
  ec = detail::open_beneath(dirs_.tmp_dir.get(), unique_.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600,
                            fd_);
  if (ec) return;
  in_tmp_ = true;
}

MaildirWriter::~MaildirWriter() {
  if (!committed_ && in_tmp_) ::unlinkat(dirs_.tmp_dir.get(), unique_.c_str(), 0);
}

std::error_code MaildirWriter::write(std::string_view data) {
  if (auto ec = core::write_all(fd_.get(), data)) return ec;
  size_ += data.size();
  return {};
}

std::error_code MaildirWriter::commit(std::string* name) {
  if (auto ec = commit_deferred(name)) return ec;
  return sync_new_dir();
}

// Additions for callers that name messages ahead and batch the directory
// fsync (popbox fetch).

MaildirWriter::MaildirWriter(const std::string& maildir, const std::string& base,
                             std::error_code& ec)
    : maildir_(maildir), unique_(base) {
  ec = open_dirs(maildir_, dirs_);
  if (ec) return;
  // The name is the caller's (it may be left over from an interrupted
  // attempt at the same message): no O_EXCL.
  ec = detail::open_beneath(dirs_.tmp_dir.get(), unique_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                            0600, fd_);
  if (ec) return;
  in_tmp_ = true;
}

std::error_code MaildirWriter::commit_deferred(std::string* name) {
  if (::fsync(fd_.get()) != 0) return errno_code();
  if (::close(fd_.release()) != 0) return errno_code();
  std::string final_name = unique_ + ",S=" + std::to_string(size_);
  // link() fails rather than replacing an existing file: two writers can
  // never overwrite each other's message. Both ends are named relative to
  // directory descriptors opened without following symlinks.
  if (::linkat(dirs_.tmp_dir.get(), unique_.c_str(), dirs_.new_dir.get(), final_name.c_str(), 0) !=
      0) {
    return errno_code();
  }
  committed_ = true;
  ::unlinkat(dirs_.tmp_dir.get(), unique_.c_str(), 0);
  // A message the kept count does not know: the next reader rebuilds it.
  if (!counted_) ::unlinkat(dirs_.root.get(), detail::usage_file_name, 0);
  if (name) *name = final_name;
  return {};
}

std::error_code MaildirWriter::sync_new_dir() {
  if (::fsync(dirs_.new_dir.get()) != 0) return errno_code();
  return {};
}

std::error_code sync_new_dir(const std::string& maildir) {
  detail::MaildirDirs dirs;
  if (auto ec = detail::open_maildir(maildir, dirs, detail::Create::no)) return ec;
  if (!dirs.new_dir) return std::make_error_code(std::errc::no_such_file_or_directory);
  if (::fsync(dirs.new_dir.get()) != 0) return errno_code();
  return {};
}

}  // namespace popbox::store
