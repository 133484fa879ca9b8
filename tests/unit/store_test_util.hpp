#pragma once
// Helpers shared by the store tests: throwaway Maildirs under /tmp.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "store/mailbox.hpp"

namespace popbox::store::test {

/// A directory made with mkdtemp, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/popbox-store-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    // Undo chmod tricks of a test so removal can descend.
    for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec)) ::chmod(it->path().c_str(), 0700);
    }
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(std::string_view rel) const { return path_ + "/" + std::string(rel); }

 private:
  std::string path_;
};

/// Writes `data` to `path`, replacing it.
inline void write_file(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

/// The bytes of `path`.
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// Sets the mtime of `path` (seconds + nanoseconds since the epoch).
inline void set_mtime(const std::string& path, long sec, long nsec = 0) {
  struct timespec times[2] = {{sec, nsec}, {sec, nsec}};
  if (::utimensat(AT_FDCWD, path.c_str(), times, 0) != 0) {
    throw std::runtime_error("utimensat failed on " + path);
  }
}

/// Creates a Maildir (new/ cur/ tmp/) at `path`.
inline void make_maildir(const std::string& path) {
  std::filesystem::create_directories(path + "/new");
  std::filesystem::create_directories(path + "/cur");
  std::filesystem::create_directories(path + "/tmp");
}

/// Everything a reader returns, in small blocks to exercise repeated reads.
inline std::string read_all(MessageReader& reader, std::size_t block = 7) {
  std::string out;
  std::string buf(block, '\0');
  for (;;) {
    std::error_code ec;
    std::size_t n = reader.read(std::span<char>(buf.data(), buf.size()), ec);
    if (ec) throw std::system_error(ec);
    if (n == 0) return out;
    out.append(buf.data(), n);
  }
}

/// True if `path` exists (without following a final symlink).
inline bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace popbox::store::test
