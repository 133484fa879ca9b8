// make_passwd_file_source(): the users of a passwd-file, reread when the
// file changes on disk (refresh(), at most once a second) or on reload().
#include <sys/stat.h>

#include <map>
#include <mutex>
#include <stdexcept>

#include "auth/passwd_file.hpp"
#include "auth/password_scheme.hpp"
#include "auth/user_source.hpp"

namespace popbox::auth {
namespace {

/// Verified for unknown users while the file has no users to imitate; it
/// costs what hash_password() output costs (Argon2id, interactive limits).
constexpr std::string_view default_dummy =
    "{ARGON2ID}$argon2id$v=19$m=65536,t=2,p=1$opqlCH3encCy40FlGtuWWQ$Fr/"
    "rMg45sVcbNdPGG8ROb/HpKFh/g7DhKKXOeHkYj4o";

/// What identifies one version of the file on disk.
struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  std::int64_t mtime_sec = 0;
  long mtime_nsec = 0;
  bool operator==(const FileId&) const = default;
};

std::optional<FileId> file_id(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileId{st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
}

struct Snapshot {
  PasswdFile file;
  std::string dummy;  ///< stored password checked for unknown users
  std::optional<FileId> id;
};

/// A dummy as costly as the passwords most users have, so that an unknown
/// name takes as long as the typical known one. Users whose scheme differs
/// from the majority remain distinguishable from each other; no dummy can
/// fix that, only uniform hashing can.
std::string pick_dummy(const PasswdFile& file) {
  std::map<std::string, std::pair<std::size_t, const PasswdEntry*>> classes;
  const PasswdEntry* best = nullptr;
  std::size_t best_count = 0;
  for (const PasswdEntry& e : file.entries()) {
    if (e.password.empty()) continue;
    const std::string cls = cost_class(e.password);
    if (cls == "unknown") continue;
    auto& [count, first] = classes[cls];
    if (count++ == 0) first = &e;
    if (count > best_count) {
      best_count = count;
      best = first;
    }
  }
  return best != nullptr ? dummy_hash_like(best->password) : std::string(default_dummy);
}

std::shared_ptr<const Snapshot> read_snapshot(const std::filesystem::path& path) {
  auto snap = std::make_shared<Snapshot>();
  // Identify the file before reading it: if it changes in between, the next
  // check sees a newer id and reads it again.
  snap->id = file_id(path);
  snap->file = PasswdFile::load(path);
  snap->dummy = pick_dummy(snap->file);
  return snap;
}

class PasswdFileSource final : public UserSource {
 public:
  explicit PasswdFileSource(std::filesystem::path path) : path_(std::move(path)) {}

  void load() override {
    std::lock_guard reload_lock(reload_mutex_);
    install(read_snapshot(path_));
  }

  std::optional<std::string> reload() override {
    try {
      load();
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::nullopt;
  }

  bool refresh() override {
    const auto cur = current();
    const auto id = file_id(path_);
    if (cur && (!id || id == cur->id)) return false;  // unchanged, or gone: keep what we have
    std::lock_guard reload_lock(reload_mutex_);
    // Another thread may have reread it while we waited for the lock.
    if (current() != cur) return true;
    try {
      install(read_snapshot(path_));
      return true;
    } catch (const std::exception&) {
      // Keep serving the old users; reload() reports the error to whoever asks.
      return false;
    }
  }

  std::optional<UserEntry> find(std::string_view user, std::error_code& ec) override {
    ec.clear();
    const auto snap = current();
    if (!snap) {
      // Never readable: the database is unavailable, which is not "no such user".
      ec = std::make_error_code(std::errc::no_such_file_or_directory);
      return std::nullopt;
    }
    const PasswdEntry* e = snap->file.find(user);
    if (e == nullptr) return std::nullopt;
    return UserEntry(UserInfo{e->user, e->uid, e->gid, e->home, e->extra}, e->password);
  }

  std::string dummy_password() override {
    const auto snap = current();
    return snap ? snap->dummy : std::string(default_dummy);
  }

 private:
  std::shared_ptr<const Snapshot> current() {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void install(std::shared_ptr<const Snapshot> snap) {
    std::lock_guard lock(mutex_);
    current_ = std::move(snap);
  }

  const std::filesystem::path path_;
  std::mutex mutex_;  ///< guards current_; held only briefly
  std::shared_ptr<const Snapshot> current_;
  /// Serialises reads of the file, which are slow (dummy hashing); finds
  /// keep using the old snapshot meanwhile.
  std::mutex reload_mutex_;
};

}  // namespace

std::shared_ptr<UserSource> make_passwd_file_source(std::string passwd_file) {
  return std::make_shared<PasswdFileSource>(std::move(passwd_file));
}

}  // namespace popbox::auth
