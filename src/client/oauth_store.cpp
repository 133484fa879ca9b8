// The per-account token file.
#include "client/oauth_store.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "client/auth.hpp"
#include "core/limits.hpp"
#include "store/file_io.hpp"
#include "store/unique_fd.hpp"

namespace popbox::client::oauth {
namespace {

using nlohmann::json;
using store::detail::UniqueFd;

struct Split {
  std::string dir, name;
};

Split split(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

Failure io_fail(const std::string& what, const std::string& path, int err) {
  return fail(fetch_errc::state,
              fmt::format("token store {}: {}: {}", path, what, std::strerror(err)));
}

FileStamp stamp_of(const struct stat& st) {
  return {st.st_dev, st.st_ino,
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
          st.st_size};
}

}  // namespace

bool unchanged(const std::string& path, const FileStamp& stamp) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return false;
  return stamp_of(st) == stamp;
}

Failure lock_store(const std::string& path, UniqueFd& fd) {
  std::string lock = path;
  if (lock.ends_with(".json")) lock.resize(lock.size() - 5);
  lock += ".lock";
  fd.reset(::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600));
  if (!fd) return io_fail("cannot open the lock", lock, errno);
  auto deadline = std::chrono::steady_clock::now() + limits::oauth_store_lock_wait;
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) return io_fail("cannot lock", lock, errno);
    if (std::chrono::steady_clock::now() >= deadline) {
      return fail(fetch_errc::temporary,
                  fmt::format("token store {} stayed locked by another popbox for {} s", path,
                              limits::oauth_store_lock_wait.count()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return {};
}

Failure load_tokens(const std::string& path, std::optional<StoredTokens>& tokens,
                    FileStamp* stamp) {
  tokens.reset();
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    if (errno == ENOENT) return {};
    return io_fail("cannot open", path, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return io_fail("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode)) return fail(fetch_errc::state, path + " is not a regular file");
  if (stamp) *stamp = stamp_of(st);
  if (st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    return fail(fetch_errc::state,
                fmt::format("token store {} is readable by others or not yours (mode {:o}); "
                            "refusing it: remove it and run `popbox fetch login` again",
                            path, st.st_mode & 07777));
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_fail("cannot read", path, errno);
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > limits::oauth_max_response) {
      wipe(text);
      return fail(fetch_errc::state, fmt::format("token store {} is too large", path));
    }
  }
  json j = json::parse(text, nullptr, false);
  wipe(text);
  StoredTokens t;
  bool ok = !j.is_discarded() && j.is_object() && j.value("refresh_token", json("")).is_string() &&
            j.value("access_token", json("")).is_string() &&
            j.value("expires_at", json(0)).is_number_integer();
  if (ok) {
    t.refresh_token = j["refresh_token"].is_string() ? j["refresh_token"].get<std::string>() : "";
    t.access_token = j["access_token"].is_string() ? j["access_token"].get<std::string>() : "";
    t.expires_at = j.value("expires_at", std::int64_t{0});
  }
  wipe_json(j);
  if (!ok) {
    return fail(fetch_errc::state,
                fmt::format("token store {} is malformed; run `popbox fetch login` again", path));
  }
  tokens = std::move(t);
  return {};
}

Failure save_tokens(const std::string& path, const StoredTokens& tokens) {
  auto [dir, name] = split(path);
  UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) return io_fail("cannot open the directory", dir, errno);
  unsigned char rnd[8];
  ensure_sodium();
  randombytes_buf(rnd, sizeof rnd);
  std::string tmp = fmt::format(".{}.tmp.{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}", name,
                                rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
  // O_EXCL: a fresh file, created 0600 (umask can only narrow it), so the
  // tokens are never in a file anyone else can open.
  UniqueFd fd(::openat(dir_fd.get(), tmp.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
  if (!fd) return io_fail("cannot create", dir + "/" + tmp, errno);
  json j = {{"refresh_token", tokens.refresh_token},
            {"access_token", tokens.access_token},
            {"expires_at", tokens.expires_at}};
  std::string text = j.dump();
  text += '\n';
  wipe_json(j);
  std::error_code ec = store::detail::write_all(fd.get(), text);
  wipe(text);
  int err = ec ? ec.value() : 0;
  if (!err && ::fsync(fd.get()) != 0) err = errno;
  if (::close(fd.release()) != 0 && !err) err = errno;
  if (!err && ::renameat(dir_fd.get(), tmp.c_str(), dir_fd.get(), name.c_str()) != 0) err = errno;
  if (err) {
    ::unlinkat(dir_fd.get(), tmp.c_str(), 0);
    return io_fail("cannot write", path, err);
  }
  if (::fsync(dir_fd.get()) != 0) return io_fail("cannot sync the directory", dir, errno);
  return {};
}

}  // namespace popbox::client::oauth
