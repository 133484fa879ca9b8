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
#include "store/parallel_scan.hpp"
#include "store/safe_open.hpp"
#include "store/unique_fd.hpp"
#include "store/x_uidl.hpp"

namespace popbox::store::detail {
namespace {

std::error_code last_error() {
  return {errno, std::system_category()};
}

// Calls fn(name, d_ino) for each entry of the directory behind dir_fd that
// may be a message. A fresh descriptor per walk: readdir position is shared
// state.
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
    fn(name, static_cast<std::uint64_t>(ent->d_ino));
  }
  ::closedir(dir);
  return ec;
}

// Stats out.name in `dir_fd` without following symlinks. Sets `found` false
// if it is gone or not a regular file: a symlink could expose files outside
// the maildrop.
std::error_code stat_entry(int dir_fd, ScannedFile& out, bool& found) {
  found = false;
  struct stat st {};
  if (::fstatat(dir_fd, out.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return last_error();
  }
  if (!S_ISREG(st.st_mode)) return {};
  out.file_size = static_cast<std::uint64_t>(st.st_size);
  out.mtime_ns = to_ns(st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  out.ino = static_cast<std::uint64_t>(st.st_ino);
  found = true;
  return {};
}

// The positions of `files` in inode order: on most file systems the order
// the inodes (and often the data) lie on disk, so a cold cache reads ahead.
std::vector<std::size_t> by_inode(const std::vector<ScannedFile>& files,
                                  std::span<const std::size_t> which) {
  std::vector<std::size_t> order(which.begin(), which.end());
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return files[a].ino < files[b].ino; });
  return order;
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
    auto ec = for_each_entry(fd, [&, sub = sub](std::string_view name, std::uint64_t ino) {
      ScannedFile f;
      f.name = std::string(name);
      f.base_len = base_of(f.name).size();
      f.dir = sub;
      f.ino = ino;  // d_ino until the stat, for the stat order
      out.push_back(std::move(f));
    });
    if (ec) return ec;
  }
  // The stats, in parallel for a big maildrop (a cold cache reads each
  // inode from disk). A file found gone or not regular is dropped; any
  // other failure fails the listing, as a serial walk would.
  std::vector<std::size_t> all(out.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  const std::vector<std::size_t> order = by_inode(out, all);
  std::vector<std::uint8_t> keep(out.size(), 0);
  std::vector<std::error_code> errors(out.size());
  for_each_parallel(order.size(), false, [&](std::size_t k, std::span<char>) {
    std::size_t i = order[k];
    bool found = false;
    ScannedFile& f = out[i];
    errors[i] = stat_entry(f.dir == Subdir::cur_dir ? cur_fd : new_fd, f, found);
    keep[i] = found ? 1 : 0;
  });
  for (const auto& ec : errors) {
    if (ec) return ec;
  }
  std::size_t kept_files = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (!keep[i]) continue;
    if (kept_files != i) out[kept_files] = std::move(out[i]);
    ++kept_files;
  }
  out.resize(kept_files);
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
  // O_NOATIME: counting line ends is not reading the mail, and an atime
  // update per file would make the first listing write every inode. Only
  // the file's owner (or CAP_FOWNER) may ask for it; others open as usual.
  constexpr int flags = O_RDONLY | O_NOCTTY | O_NONBLOCK;
  auto ec = open_beneath(dir_fd, file.name.c_str(), flags | O_NOATIME, 0, fd);
  if (ec == std::error_code(EPERM, std::system_category())) {  // not unsafe_path
    ec = open_beneath(dir_fd, file.name.c_str(), flags, 0, fd);
  }
  if (ec) return ec;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return last_error();
  if (!S_ISREG(st.st_mode)) return std::make_error_code(std::errc::invalid_argument);
  file.file_size = static_cast<std::uint64_t>(st.st_size);
  file.mtime_ns = to_ns(st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  file.ino = static_cast<std::uint64_t>(st.st_ino);
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

void measure_files(int new_fd, int cur_fd, std::vector<ScannedFile>& files,
                   std::span<const std::size_t> todo, std::vector<Measured>& out) {
  out.assign(todo.size(), Measured{});
  if (todo.empty()) return;                        // every size from the index
  std::vector<std::size_t> slot(files.size(), 0);  // todo position of each file
  for (std::size_t k = 0; k < todo.size(); ++k) slot[todo[k]] = k;
  const std::vector<std::size_t> order = by_inode(files, todo);
  for_each_parallel(order.size(), true, [&](std::size_t k, std::span<char> scratch) {
    ScannedFile& f = files[order[k]];
    Measured& m = out[slot[order[k]]];
    m.ec = measure_file(f.dir == Subdir::cur_dir ? cur_fd : new_fd, f, m.crlf_size, scratch);
  });
}

}  // namespace popbox::store::detail
