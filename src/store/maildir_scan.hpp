#pragma once
// Listing the messages of a Maildir (new/ and cur/) and measuring them.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace popbox::store::detail {

class HeaderCollector;

/// The two Maildir directories that hold messages.
enum class Subdir : std::uint8_t { new_dir, cur_dir };

/// One message file as found on disk.
struct ScannedFile {
  std::string name;          ///< file name inside its Subdir
  std::size_t base_len = 0;  ///< length of the BASE prefix of name
  Subdir dir = Subdir::new_dir;
  std::uint64_t file_size = 0;  ///< st_size
  std::int64_t mtime_ns = 0;    ///< st_mtim in nanoseconds since the epoch
  std::uint64_t ino = 0;        ///< st_ino: files are read in inode order

  /// The name without its info part: the identity of the message.
  std::string_view base() const noexcept { return std::string_view(name).substr(0, base_len); }
};

/// Compares a ScannedFile with a BASE, for searching the sorted scan output.
struct BaseLess {
  bool operator()(const ScannedFile& a, std::string_view b) const noexcept { return a.base() < b; }
  bool operator()(std::string_view a, const ScannedFile& b) const noexcept { return a < b.base(); }
};

/// Finds files by BASE in the sorted output of scan_maildir. Lookups in
/// (nearly) BASE order, as index and record entries mostly are, cost O(1);
/// others a binary search.
class BaseFinder {
 public:
  /// `files` must outlive the finder and stay sorted by BASE.
  explicit BaseFinder(const std::vector<ScannedFile>& files) noexcept : files_(files) {}
  /// The position of the file with `base`, or npos.
  std::size_t find(std::string_view base) noexcept;

  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

 private:
  const std::vector<ScannedFile>& files_;
  std::size_t next_ = 0;  // where the following lookup is tried first
};

/// Lists the regular files of new/ and cur/ (dotfiles skipped), one per BASE:
/// when a crash left a message in both, the cur/ copy wins. Files that vanish
/// while listing, or are found to be symlinks or not regular, are skipped;
/// any other stat failure fails the listing. Big directories are statted by
/// several threads (for_each_parallel). `out` is sorted by BASE; the files that lost
/// to another of the same BASE go to `duplicates` (also sorted by BASE).
std::error_code scan_maildir(int new_fd, int cur_fd, std::vector<ScannedFile>& out,
                             std::vector<ScannedFile>* duplicates = nullptr);

/// Reads the file and returns its RETR size (core::CrlfSizer) in `crlf_size`;
/// refreshes file.file_size and file.mtime_ns from the opened file so they
/// describe the bytes that were measured. `buf` is scratch space. When
/// `header` is given it also receives the message's header section.
std::error_code measure_file(int dir_fd, ScannedFile& file, std::uint64_t& crlf_size,
                             std::span<char> buf, HeaderCollector* header = nullptr);

/// What measuring one file gave.
struct Measured {
  std::uint64_t crlf_size = 0;  ///< its RETR size, when ec is clear
  std::error_code ec;           ///< measure_file's error
};

/// measure_file (no header) for files[todo[k]], result in out[k], for every
/// k; several threads for many files (for_each_parallel, in inode order).
/// Each file is opened below its directory fd as measure_file opens it
/// (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, regular files only), so a file
/// removed or replaced since the listing gives its own error in out[k].
void measure_files(int new_fd, int cur_fd, std::vector<ScannedFile>& files,
                   std::span<const std::size_t> todo, std::vector<Measured>& out);

/// Nanoseconds since the epoch of a timespec.
std::int64_t to_ns(std::int64_t sec, long nsec) noexcept;

}  // namespace popbox::store::detail
