#include "store/maildir_writer.hpp"

#include "core/fd_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>

namespace popbox::store {
namespace {

std::error_code errno_code() {
  return {errno, std::system_category()};
}

std::error_code fsync_dir(const std::string& dir) {
  detail::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd || ::fsync(fd.get()) != 0) return errno_code();
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
  ec.clear();
  for (const char* sub : {"", "/tmp", "/new", "/cur"}) {
    std::string dir = maildir_ + sub;
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      // Parents of the Maildir itself may be missing too.
      if (errno == ENOENT && *sub == '\0') {
        std::string path;
        for (std::size_t i = 1; i <= dir.size(); ++i) {
          if (i == dir.size() || dir[i] == '/') {
            path = dir.substr(0, i);
            if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
              ec = errno_code();
              return;
            }
          }
        }
        continue;
      }
      ec = errno_code();
      return;
    }
  }
  unique_ = new_maildir_base();
  tmp_path_ = maildir_ + "/tmp/" + unique_;
  fd_.reset(::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd_) ec = errno_code();
}

MaildirWriter::~MaildirWriter() {
  if (!committed_ && !tmp_path_.empty()) ::unlink(tmp_path_.c_str());
}

std::error_code MaildirWriter::write(std::string_view data) {
  if (auto ec = core::write_all(fd_.get(), data)) return ec;
  size_ += data.size();
  return {};
}

std::error_code MaildirWriter::commit(std::string* name) {
  if (auto ec = commit_deferred(name)) return ec;
  return sync_new_dir(maildir_);
}

// Additions for callers that name messages ahead and batch the directory
// fsync (popbox fetch).

MaildirWriter::MaildirWriter(const std::string& maildir, const std::string& base,
                             std::error_code& ec)
    : maildir_(maildir), unique_(base), tmp_path_(maildir + "/tmp/" + base) {
  ec.clear();
  // The name is the caller's (it may be left over from an interrupted
  // attempt at the same message): no O_EXCL.
  fd_.reset(::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd_) return;
  if (errno == ENOENT) {
    // The first message into a new Maildir: the other constructor creates
    // the directories (and removes its own tmp/ file again).
    MaildirWriter creator(maildir, ec);
    if (!ec) {
      fd_.reset(::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
      if (fd_) return;
    }
  }
  if (!ec) ec = errno_code();
  tmp_path_.clear();
}

std::error_code MaildirWriter::commit_deferred(std::string* name) {
  if (::fsync(fd_.get()) != 0) return errno_code();
  if (::close(fd_.release()) != 0) return errno_code();
  std::string final_name = unique_ + ",S=" + std::to_string(size_);
  std::string new_path = maildir_ + "/new/" + final_name;
  // link() fails rather than replacing an existing file: two writers can
  // never overwrite each other's message.
  if (::link(tmp_path_.c_str(), new_path.c_str()) != 0) return errno_code();
  committed_ = true;
  ::unlink(tmp_path_.c_str());
  if (name) *name = final_name;
  return {};
}

std::error_code sync_new_dir(const std::string& maildir) {
  return fsync_dir(maildir + "/new");
}

}  // namespace popbox::store
