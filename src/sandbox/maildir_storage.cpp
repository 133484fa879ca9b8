// MessageStorage on Maildirs: DIR/inboxes/<id>/Maildir/{new,cur,tmp}.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/limits.hpp"
#include "sandbox/message_storage.hpp"
#include "store/maildir_writer.hpp"

namespace popbox::sandbox {
namespace {

namespace fs = std::filesystem;

std::error_code last_error() {
  return {errno, std::system_category()};
}

// A Maildir file name is the base, then ",S=..." or ":2,FLAGS".
bool names_message(std::string_view file, std::string_view id) {
  return file.size() >= id.size() && file.substr(0, id.size()) == id &&
         (file.size() == id.size() || file[id.size()] == ',' || file[id.size()] == ':');
}

std::string base_of(std::string_view file) {
  return std::string(file.substr(0, file.find_first_of(",:")));
}

std::error_code write_file_atomic(const fs::path& path, std::string_view data) {
  const fs::path tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return last_error();
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto ec = last_error();
      ::close(fd);
      return ec;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    auto ec = last_error();
    ::close(fd);
    return ec;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return last_error();
  int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return {};
}

class MaildirStorage final : public MessageStorage {
 public:
  explicit MaildirStorage(std::string root) : root_(std::move(root)) {}

  std::error_code put(std::string_view inbox_id, std::string_view id,
                      const core::Spool& body) override {
    std::error_code ec;
    fs::create_directories(inbox_dir(inbox_id), ec);
    if (ec) return ec;
    store::MaildirWriter writer(maildir(inbox_id), std::string(id), ec);
    if (ec) return ec;
    ec = body.for_each_block([&](std::string_view block) { return writer.write(block); });
    if (!ec) ec = writer.commit();
    return ec;
  }

  std::error_code get(std::string_view inbox_id, std::string_view id,
                      std::string& out) const override {
    fs::path path = find(inbox_id, id);
    if (path.empty()) return std::make_error_code(std::errc::no_such_file_or_directory);
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::make_error_code(std::errc::no_such_file_or_directory);
    std::ostringstream ss;
    ss << in.rdbuf();
    out = std::move(ss).str();
    return {};
  }

  std::error_code remove(std::string_view inbox_id, std::string_view id) override {
    fs::path path = find(inbox_id, id);
    if (path.empty()) return {};
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return last_error();
    return {};
  }

  std::error_code remove_inbox(std::string_view inbox_id) override {
    std::error_code ec;
    fs::remove_all(inbox_dir(inbox_id), ec);
    return ec;
  }

  std::vector<std::string> list(std::string_view inbox_id) const override {
    std::vector<std::string> ids;
    for (const char* sub : {"new", "cur"}) {
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(fs::path(maildir(inbox_id)) / sub, ec)) {
        if (e.is_regular_file(ec)) ids.push_back(base_of(e.path().filename().string()));
      }
    }
    return ids;
  }

  std::error_code save_meta(std::string_view inbox_id, std::string_view json) override {
    std::error_code ec;
    fs::create_directories(inbox_dir(inbox_id), ec);
    if (ec) return ec;
    return write_file_atomic(inbox_dir(inbox_id) / "inbox.json", json);
  }

  std::vector<std::pair<std::string, std::string>> load_meta() const override {
    std::vector<std::pair<std::string, std::string>> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fs::path(root_) / "inboxes", ec)) {
      const fs::path meta = e.path() / "inbox.json";
      std::error_code sec;
      auto size = fs::file_size(meta, sec);
      if (sec || size > limits::sandbox_max_meta_bytes) continue;
      std::ifstream in(meta, std::ios::binary);
      std::ostringstream ss;
      ss << in.rdbuf();
      out.emplace_back(e.path().filename().string(), std::move(ss).str());
    }
    return out;
  }

  std::string maildir(std::string_view inbox_id) const override {
    return (inbox_dir(inbox_id) / "Maildir").string();
  }

 private:
  fs::path inbox_dir(std::string_view inbox_id) const {
    return fs::path(root_) / "inboxes" / std::string(inbox_id);
  }

  fs::path find(std::string_view inbox_id, std::string_view id) const {
    for (const char* sub : {"new", "cur"}) {
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(fs::path(maildir(inbox_id)) / sub, ec)) {
        if (names_message(e.path().filename().string(), id)) return e.path();
      }
    }
    return {};
  }

  std::string root_;
};

}  // namespace

std::unique_ptr<MessageStorage> make_maildir_storage(std::string root) {
  return std::make_unique<MaildirStorage>(std::move(root));
}

}  // namespace popbox::sandbox
