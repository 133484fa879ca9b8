// mbox append with locking, quoting and crash resume.
#include "client/mbox_writer.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <thread>

#include "core/limits.hpp"

namespace popbox::client {
namespace {

constexpr int lock_attempts = 300;  // 100 ms apart: 30 s
std::string errno_text() {
  return std::strerror(errno);
}

}  // namespace

Failure open_locked_mbox(const std::string& path, store::detail::UniqueFd& fd) {
  fd.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return fail(fetch_errc::cant_create, fmt::format("mbox {}: {}", path, errno_text()));
  // flock excludes our other threads and flock users; fcntl excludes the
  // MUAs and LDAs that use POSIX locks. Both are dropped by the kernel if
  // the process dies.
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  for (int i = 0; i < lock_attempts; ++i) {
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
      if (::fcntl(fd.get(), F_SETLK, &fl) == 0) return {};
      ::flock(fd.get(), LOCK_UN);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  fd.reset();
  return fail(fetch_errc::temporary, fmt::format("mbox {}: still locked after 30 s", path));
}

void unlock_mbox(store::detail::UniqueFd& fd) noexcept {
  if (!fd) return;
  struct flock fl {};
  fl.l_type = F_UNLCK;
  fl.l_whence = SEEK_SET;
  ::fcntl(fd.get(), F_SETLK, &fl);
  ::flock(fd.get(), LOCK_UN);
  fd.reset();
}

MboxWriter::MboxWriter(const std::string& path, std::int64_t from_time,
                       std::optional<std::uint64_t> resume, Failure& failure)
    : path_(path), encoder_(from_time) {
  failure = open_locked_mbox(path, fd_);
  if (failure) return;
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) {
    failure = fail(fetch_errc::io, fmt::format("mbox {}: {}", path, errno_text()));
    return;
  }
  size_at_open_ = static_cast<std::uint64_t>(st.st_size);
  start_ = size_at_open_;
  if (resume && *resume < size_at_open_) {
    // Something was written at the recorded offset: compare first.
    start_ = *resume;
    verifying_ = true;
  } else if (resume && *resume > size_at_open_) {
    note_ = fmt::format("the mbox shrank below the recorded offset {}; appending again", *resume);
  }
  pos_ = start_;
  // The caller records the offset as its intent before anything reaches
  // the file.
}

MboxWriter::~MboxWriter() {
  if (fd_) {
    // An abandoned message (dropped connection, failed write) that ends the
    // file is ours alone under the lock: remove it. After a kill -9 this
    // does not run; resuming deals with what is left.
    if (!committed_ && pos_ >= size_at_open_ && pos_ > start_) {
      if (::ftruncate(fd_.get(), static_cast<off_t>(start_)) == 0) ::fsync(fd_.get());
    }
    unlock_mbox(fd_);
  }
}

Failure MboxWriter::write(std::string_view data) {
  out_.clear();
  encoder_.encode(data, out_);
  return emit(out_);
}

Failure MboxWriter::commit() {
  out_.clear();
  encoder_.finish(out_);
  if (auto f = emit(out_)) return f;
  if (verifying_) note_ = "the message was already complete in the mbox";
  if (::fsync(fd_.get()) != 0) {
    return fail(fetch_errc::io, fmt::format("mbox {}: fsync: {}", path_, errno_text()));
  }
  committed_ = true;
  return {};
}

Failure MboxWriter::emit(std::string_view bytes) {
  if (verifying_) {
    if (auto f = verify(bytes)) return f;
  }
  return pwrite_all(bytes);
}

// Compares `bytes` with the file at pos_, consuming the matching prefix.
// At the end of the file the rest is simply appended (a cut-short copy is
// completed). On a mismatch the file holds foreign data after a partial
// copy: the matched part is copied to the end and writing goes on there.
Failure MboxWriter::verify(std::string_view& bytes) {
  std::array<char, 64 * 1024> buf;
  while (!bytes.empty() && verifying_) {
    if (pos_ >= size_at_open_) {
      verifying_ = false;
      note_ = "completed a message cut short by an interrupted run";
      break;
    }
    std::size_t n = static_cast<std::size_t>(
        std::min<std::uint64_t>({bytes.size(), buf.size(), size_at_open_ - pos_}));
    ssize_t got = ::pread(fd_.get(), buf.data(), n, static_cast<off_t>(pos_));
    if (got <= 0)
      return fail(fetch_errc::io, fmt::format("mbox {}: read: {}", path_, errno_text()));
    std::size_t k = 0;
    while (k < static_cast<std::size_t>(got) && buf[k] == bytes[k]) ++k;
    pos_ += k;
    bytes.remove_prefix(k);
    if (k < static_cast<std::size_t>(got)) {
      verifying_ = false;
      note_ = fmt::format(
          "a partial copy from an interrupted run stays at offset {} (other mail follows it); "
          "appended a complete copy",
          start_);
      std::uint64_t matched = pos_ - start_;
      std::uint64_t from = start_;
      start_ = pos_ = size_at_open_;
      for (std::uint64_t done = 0; done < matched;) {
        std::size_t m =
            static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), matched - done));
        if (::pread(fd_.get(), buf.data(), m, static_cast<off_t>(from + done)) !=
            static_cast<ssize_t>(m)) {
          return fail(fetch_errc::io, fmt::format("mbox {}: read: {}", path_, errno_text()));
        }
        if (auto f = pwrite_all(std::string_view(buf.data(), m))) return f;
        done += m;
      }
    }
  }
  return {};
}

Failure MboxWriter::pwrite_all(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::pwrite(fd_.get(), bytes.data(), bytes.size(), static_cast<off_t>(pos_));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(fetch_errc::io, fmt::format("mbox {}: write: {}", path_, errno_text()));
    }
    pos_ += static_cast<std::uint64_t>(n);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace popbox::client
