// Reading and changing messages of a snapshot. Other programs (an IMAP
// server, a mail client on the host) do not know our lock and may rename a
// message to change its flags, so a missing name triggers one rescan by BASE
// before the message is declared gone.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include <optional>

#include "core/log.hpp"
#include "store/fault_point.hpp"
#include "store/maildir_layout.hpp"
#include "store/maildir_mailbox.hpp"
#include "store/maildir_name.hpp"
#include "store/maildir_usage.hpp"
#include "store/safe_open.hpp"

namespace popbox::store {
namespace {

std::error_code last_error() {
  return {errno, std::system_category()};
}

bool is_enoent(const std::error_code& ec) {
  return ec == std::errc::no_such_file_or_directory;
}

// Streams one message file with pread(2) at its own offset; the fd pins the
// file, so renames and unlinks after opening do not disturb the read. Reads
// through the open fd need no file-system ids (permissions were checked at
// open), so read_nowait() is safe on an event thread that holds none.
class MaildirReader final : public MessageReader {
 public:
  explicit MaildirReader(detail::UniqueFd fd) : fd_(std::move(fd)) {}

  std::size_t read(std::span<char> buf, std::error_code& ec) override {
    ec.clear();
    for (;;) {
      ssize_t n = ::pread(fd_.get(), buf.data(), buf.size(), offset_);
      if (n >= 0) {
        offset_ += n;
        return static_cast<std::size_t>(n);
      }
      if (errno != EINTR) {
        ec = last_error();
        return 0;
      }
    }
  }

  std::optional<std::size_t> read_nowait(std::span<char> buf, std::error_code& ec) override {
    ec.clear();
    if (!nowait_) return std::nullopt;
    iovec iov{buf.data(), buf.size()};
    for (;;) {
      // Only what the page cache holds; EAGAIN when the disk would be read.
      ssize_t n = ::preadv2(fd_.get(), &iov, 1, offset_, RWF_NOWAIT);
      if (n >= 0) {
        offset_ += n;
        return static_cast<std::size_t>(n);
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return std::nullopt;
      if (errno == EOPNOTSUPP || errno == EINVAL) {
        nowait_ = false;  // a file system without RWF_NOWAIT: the pool reads
        return std::nullopt;
      }
      ec = last_error();
      return 0;
    }
  }

 private:
  detail::UniqueFd fd_;
  off_t offset_ = 0;
  bool nowait_ = true;
};

void check_index(std::size_t index, std::size_t size) {
  if (index >= size) throw std::out_of_range("message index out of range");
}

}  // namespace

std::unique_ptr<MessageReader> MaildirMailbox::try_open_nowait(std::size_t index) {
  check_index(index, entries_.size());
  const Entry& e = entries_[index];
  if (e.removed) return nullptr;
  // By path as reopen_dirs() does (the root may be a symlink), then the
  // same identity check; below it nothing follows a symlink.
  detail::UniqueFd root = detail::open_cached(AT_FDCWD, path_.c_str(), O_RDONLY | O_DIRECTORY, 0);
  struct stat st {};
  if (!root || ::fstat(root.get(), &st) != 0 || st.st_dev != root_dev_ || st.st_ino != root_ino_) {
    return nullptr;  // open() says why, and logs a replaced Maildir
  }
  std::string rel = e.dir == detail::Subdir::cur_dir ? "cur/" : "new/";
  rel += name_of(e);
  detail::UniqueFd fd =
      detail::open_cached(root.get(), rel.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK,
                          RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
  if (!fd) return nullptr;
  return std::make_unique<MaildirReader>(std::move(fd));
}

std::unique_ptr<MessageReader> MaildirMailbox::open(std::size_t index, std::error_code& ec) {
  check_index(index, entries_.size());
  ec.clear();
  Entry& e = entries_[index];
  if (e.removed) {
    ec = store_errc::message_gone;
    return nullptr;
  }
  // The Maildir again (no descriptor is kept between commands), then
  // "cur/NAME" below it in one openat2.
  detail::DirsScope scope(dirs_);
  if ((ec = reopen_dirs(false))) return nullptr;
  for (int attempt = 0; attempt < 2; ++attempt) {
    detail::UniqueFd fd;
    std::string rel = e.dir == detail::Subdir::cur_dir ? "cur/" : "new/";
    rel += name_of(e);
    ec = detail::open_beneath(dirs_.root.get(), rel.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK, 0,
                              fd);
    if (!ec) return std::make_unique<MaildirReader>(std::move(fd));
    if (!is_enoent(ec) || attempt == 1) break;
    std::string old_name(name_of(e));
    detail::Subdir old_dir = e.dir;
    if (auto rescan_error = relocate()) {
      ec = rescan_error;
      return nullptr;
    }
    if (name_of(e) == old_name && e.dir == old_dir) {
      e.removed = true;  // not found anywhere: later opens need not rescan
      break;
    }
  }
  if (is_enoent(ec)) ec = store_errc::message_gone;
  return nullptr;
}

bool MaildirMailbox::seen(std::size_t index) const {
  check_index(index, entries_.size());
  const Entry& e = entries_[index];
  if (e.dir != detail::Subdir::cur_dir) return false;
  std::string_view name = name_of(e);
  return detail::seen_name(name) == name;
}

std::error_code MaildirMailbox::remove_duplicates(std::string_view base, Usage& removed) {
  auto range = std::equal_range(duplicates_.begin(), duplicates_.end(), base, detail::BaseLess{});
  std::error_code first;
  for (auto it = range.first; it != range.second; ++it) {
    if (::unlinkat(dirs_.fd(it->dir), it->name.c_str(), 0) == 0) {
      removed.bytes += it->file_size;
      ++removed.messages;
    } else if (errno != ENOENT && !first) {
      first = last_error();
    }
  }
  return first;
}

std::error_code MaildirMailbox::commit(std::span<const std::size_t> deleted,
                                       std::span<const std::size_t> retrieved) {
  std::error_code first;
  auto note = [&first](std::error_code ec) {
    if (ec && !first) first = ec;
  };
  bool relocated = false;
  bool touched = false;
  // Runs op on entry e; on ENOENT rescans once per commit (cheaper than a
  // rescan per message when another program renamed many) and retries if
  // the message turned up under another name. Gone for good counts as done.
  auto with_retry = [&](Entry& e, auto&& op) {
    for (;;) {
      std::error_code ec = op();
      if (!is_enoent(ec)) return ec;
      if (relocated) return std::error_code();
      std::string old_name(name_of(e));
      detail::Subdir old_dir = e.dir;
      relocated = true;
      if (auto rec = relocate()) return rec;
      if (name_of(e) == old_name && e.dir == old_dir) return std::error_code();
    }
  };

  // Bad indices are a caller bug: refuse before touching any file.
  for (std::size_t index : deleted) check_index(index, entries_.size());
  for (std::size_t index : retrieved) check_index(index, entries_.size());
  if (deleted.empty() && retrieved.empty()) return {};
  detail::DirsScope scope(dirs_);
  if (auto ec = reopen_dirs(true)) return ec;
  std::vector<bool> is_deleted(entries_.size(), false);
  bool any_removed = false;
  for (std::size_t index : deleted) is_deleted[index] = true;
  // The kept count changes with the unlinks: locked and marked pending
  // first, so a crash in between makes the next reader count again.
  std::optional<detail::UsageCounter> counter;
  Usage removed;
  if (!deleted.empty()) {
    std::error_code cec;
    counter.emplace(dirs_, cec);
    if (!cec) cec = counter->begin_change();
    if (cec) {
      core::log_warn(fmt::format("event=usage_update_failed maildir={} error=\"{}\"",
                                 core::log_escape(path_), cec.message()));
      counter.reset();
    }
  }
  for (std::size_t index = 0; index < entries_.size(); ++index) {
    if (!is_deleted[index] || entries_[index].removed) continue;
    Entry& e = entries_[index];
    auto ec = with_retry(e, [&]() -> std::error_code {
      if (::unlinkat(dirs_.fd(e.dir), c_name(e), 0) != 0) return last_error();
      return {};
    });
    note(ec);
    if (!ec) {
      e.removed = true;
      any_removed = true;
      touched = true;
      removed.bytes += e.file_size;
      ++removed.messages;
      note(remove_duplicates(base_of(e), removed));
    }
  }
  testing::fault_point("commit.applied");
  if (counter) {
    if (auto cec = counter->add(-static_cast<std::int64_t>(removed.bytes),
                                -static_cast<std::int64_t>(removed.messages))) {
      core::log_warn(fmt::format("event=usage_update_failed maildir={} error=\"{}\"",
                                 core::log_escape(path_), cec.message()));
    }
    counter.reset();  // unlocked before the fsyncs
  }

  for (std::size_t index : retrieved) {
    if (is_deleted[index] || entries_[index].removed) continue;
    Entry& e = entries_[index];
    note(with_retry(e, [&]() -> std::error_code {
      std::string target = detail::seen_name(name_of(e));
      // An info part we do not understand is left as it is rather than lost.
      if (target.empty()) return {};
      if (e.dir == detail::Subdir::cur_dir && target == name_of(e)) return {};
      if (::renameat(dirs_.fd(e.dir), c_name(e), dirs_.cur_dir.get(), target.c_str()) != 0) {
        return last_error();
      }
      detail::ScannedFile moved = file_of(e);
      moved.name = std::move(target);
      moved.dir = detail::Subdir::cur_dir;
      set_file(e, moved);
      touched = true;
      return {};
    }));
  }

  // Unlink and rename are durable only once their directories are synced.
  if (touched) {
    if (::fsync(dirs_.new_dir.get()) != 0) note(last_error());
    if (::fsync(dirs_.cur_dir.get()) != 0) note(last_error());
  }
  if (any_removed) {
    std::error_code index_error;
    write_index_now(index_error);  // a stale index is only a cache miss later
  }
  return first;
}

}  // namespace popbox::store
