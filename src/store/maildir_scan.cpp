// Directory listing with readdir + fstatat on the directory descriptors, so a
// maildrop is walked without building paths and without following symlinks.
#include "store/maildir_scan.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/dot_codec.hpp"
#include "store/maildir_name.hpp"
#include "store/safe_open.hpp"
#include "store/unique_fd.hpp"
#include "store/x_uidl.hpp"

namespace popbox::store::detail {
namespace {

std::error_code last_error() {
  return {errno, std::system_category()};
}

// Calls fn(name) for each entry of the directory behind dir_fd that may be a
// message. A fresh descriptor per walk: readdir position is shared state.
template <typename Fn>
std::error_code for_each_entry(int dir_fd, Fn&& fn) {
  int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return last_error();
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    auto ec = last_error();
    ::close(fd);
    return ec;
  }
  std::error_code ec;
  for (;;) {
    errno = 0;
    dirent* ent = ::readdir(dir);
    if (ent == nullptr) {
      if (errno != 0) ec = last_error();
      break;
    }
    std::string_view name = ent->d_name;
    if (is_ignored_name(name)) continue;
    // d_type saves a stat for subdirectories; DT_UNKNOWN falls through to it.
    if (ent->d_type != DT_REG && ent->d_type != DT_UNKNOWN) continue;
    ec = fn(name);
    if (ec) break;
  }
  ::closedir(dir);
  return ec;
}

// Stats `name` without following symlinks. Sets `found` false if it is gone
// or not a regular file: a symlink could expose files outside the maildrop.
std::error_code stat_entry(int dir_fd, std::string_view name, Subdir sub, ScannedFile& out,
                           bool& found) {
  found = false;
  struct stat st {};
  std::string n(name);
  if (::fstatat(dir_fd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return last_error();
  }
  if (!S_ISREG(st.st_mode)) return {};
  out.base_len = base_of(n).size();
  out.name = std::move(n);
  out.dir = sub;
  out.file_size = static_cast<std::uint64_t>(st.st_size);
  out.mtime_ns = to_ns(st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  found = true;
  return {};
}

}  // namespace

std::size_t BaseFinder::find(std::string_view base) noexcept {
  if (next_ < files_.size() && files_[next_].base() == base) return next_++;
  auto it = std::lower_bound(files_.begin(), files_.end(), base, BaseLess{});
  if (it == files_.end() || it->base() != base) return npos;
  next_ = static_cast<std::size_t>(it - files_.begin()) + 1;
  return next_ - 1;
}

std::int64_t to_ns(std::int64_t sec, long nsec) noexcept {
  return sec * 1'000'000'000 + static_cast<std::int64_t>(nsec);
}

std::error_code scan_maildir(int new_fd, int cur_fd, std::vector<ScannedFile>& out,
                             std::vector<ScannedFile>* duplicates) {
  out.clear();
  if (duplicates != nullptr) duplicates->clear();
  for (auto [fd, sub] : {std::pair{cur_fd, Subdir::cur_dir}, std::pair{new_fd, Subdir::new_dir}}) {
    auto ec = for_each_entry(fd, [&, fd = fd, sub = sub](std::string_view name) {
      ScannedFile f;
      bool found = false;
      auto ec = stat_entry(fd, name, sub, f, found);
      if (found) out.push_back(std::move(f));
      return ec;
    });
    if (ec) return ec;
  }
  // One message per BASE. cur/ sorts first within a base (Subdir order), then
  // the name decides, so the pick is the same in every session.
  std::sort(out.begin(), out.end(), [](const ScannedFile& a, const ScannedFile& b) {
    if (a.base() != b.base()) return a.base() < b.base();
    if (a.dir != b.dir) return a.dir == Subdir::cur_dir;
    return a.name < b.name;
  });
  std::size_t kept = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (kept > 0 && out[kept - 1].base() == out[i].base()) {
      if (duplicates != nullptr) duplicates->push_back(std::move(out[i]));
      continue;
    }
    if (kept != i) out[kept] = std::move(out[i]);
    ++kept;
  }
  out.resize(kept);
  return {};
}

std::error_code measure_file(int dir_fd, ScannedFile& file, std::uint64_t& crlf_size,
                             std::span<char> buf, HeaderCollector* header) {
  UniqueFd fd;
  if (auto ec = open_beneath(dir_fd, file.name.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, fd)) {
    return ec;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return last_error();
  if (!S_ISREG(st.st_mode)) return std::make_error_code(std::errc::invalid_argument);
  file.file_size = static_cast<std::uint64_t>(st.st_size);
  file.mtime_ns = to_ns(st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  core::CrlfSizer sizer;
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    if (n == 0) break;
    std::string_view block(buf.data(), static_cast<std::size_t>(n));
    sizer.add(block);
    if (header != nullptr && !header->complete()) header->add(block);
  }
  if (header != nullptr) header->finish();
  crlf_size = sizer.total();
  return {};
}

}  // namespace popbox::store::detail
