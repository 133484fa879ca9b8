// Taking the snapshot: list the Maildir (the truth), take sizes from the
// index where the file is unchanged, measure the rest, keep the index order.
#include "store/maildir_mailbox.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <stdexcept>

#include "core/limits.hpp"
#include "core/log.hpp"
#include "store/file_io.hpp"

#include "store/maildir_index.hpp"
#include "store/maildir_name.hpp"
#include "store/maildir_uidls.hpp"
#include "store/safe_open.hpp"
#include "store/uidl_record.hpp"
#include "store/x_uidl.hpp"

namespace popbox::store {
namespace {

// scan_maildir returns files sorted by base: binary search instead of a map.
const detail::ScannedFile* find_by_base(const std::vector<detail::ScannedFile>& files,
                                        std::string_view base) {
  auto it = std::lower_bound(files.begin(), files.end(), base, detail::BaseLess{});
  return it != files.end() && it->base() == base ? &*it : nullptr;
}

// Errors that mean "this file is no longer a message": skip it, the way a
// file deleted between listing and reading is skipped.
bool vanished(const std::error_code& ec) {
  return ec == std::errc::no_such_file_or_directory || ec == store_errc::unsafe_path ||
         ec == std::errc::invalid_argument;
}

// The state of the Maildir before it is listed: a change after this point
// shows in the stamps the next login compares.
std::error_code take_stamps(const detail::MaildirDirs& dirs, detail::SnapshotStamps& now) {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  now.scan_ns = detail::to_ns(ts.tv_sec, ts.tv_nsec);
  struct stat st {};
  if (::fstat(dirs.new_dir.get(), &st) != 0) return detail::last_error();
  now.new_dir = detail::stamp_of(st);
  if (::fstat(dirs.cur_dir.get(), &st) != 0) return detail::last_error();
  now.cur_dir = detail::stamp_of(st);
  return {};
}

// The stamp of popbox-uidls; zero when missing or not a regular file.
detail::FileStamp uidls_stamp(int root) {
  struct stat st {};
  if (::fstatat(root, detail::uidls_file_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
      !S_ISREG(st.st_mode)) {
    return {};
  }
  return detail::stamp_of(st);
}

}  // namespace

std::unique_ptr<MaildirMailbox> MaildirMailbox::load(const std::string& path, std::error_code& ec) {
  return load(path, ec, MaildirOptions{});
}

std::unique_ptr<MaildirMailbox> MaildirMailbox::load(const std::string& path, std::error_code& ec,
                                                     const MaildirOptions& options) {
  ec.clear();
  std::unique_ptr<MaildirMailbox> box(new MaildirMailbox());
  box->path_ = path;
  box->options_ = options;
  // Only for the length of the open: an idle session holds no descriptor.
  detail::DirsScope scope(box->dirs_);
  // open_maildir logs an unsafe directory itself.
  if ((ec = detail::open_maildir(path, box->dirs_))) return nullptr;
  struct stat st {};
  if (::fstat(box->dirs_.root.get(), &st) != 0) {
    ec = detail::last_error();
    return nullptr;
  }
  box->root_dev_ = st.st_dev;
  box->root_ino_ = st.st_ino;
  box->lock_ = detail::MaildropLock::acquire(box->dirs_.root.get(), ec);
  if (!ec) ec = box->build_snapshot();
  if (ec == store_errc::unsafe_path) detail::log_unsafe_path(path, box->dirs_.root.get());
  if (ec) return nullptr;
  return box;
}

std::error_code MaildirMailbox::reopen_dirs(bool subdirs) {
  // By path, as at load (operators symlink /var/mail), then checked to be
  // the directory that was locked; below it nothing follows a symlink.
  dirs_.root.reset(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dirs_.root) return detail::last_error();
  struct stat st {};
  if (::fstat(dirs_.root.get(), &st) != 0) return detail::last_error();
  if (st.st_dev != root_dev_ || st.st_ino != root_ino_) {
    core::log_warn(fmt::format("event=maildir_replaced path={}", core::log_escape(path_)));
    return store_errc::io;
  }
  if (!subdirs) return {};
  auto ec = detail::open_dir_beneath(dirs_.root.get(), "new", dirs_.new_dir);
  if (!ec) ec = detail::open_dir_beneath(dirs_.root.get(), "cur", dirs_.cur_dir);
  if (ec == store_errc::unsafe_path) detail::log_unsafe_path(path_, dirs_.root.get());
  return ec;
}

bool MaildirMailbox::use_snapshot(const detail::SnapshotStamps& now) {
  if (options_.mode != MaildirOptions::Mode::serve) return false;  // reports list everything
  detail::FileStamp uidls = uidls_stamp(dirs_.root.get());
  if (uidls == detail::FileStamp{}) return false;  // adoption not closed yet
  auto snap = detail::read_snapshot(dirs_.root.get());
  if (!snap) return false;
  const auto& was = snap->stamps;
  if (was.new_dir != now.new_dir || was.cur_dir != now.cur_dir || was.uidls != uidls) return false;
  if (was.dirty(std::chrono::nanoseconds(limits::maildir_sync_window).count())) return false;
  entries_.clear();
  entries_.reserve(snap->entries.size());
  messages_.clear();
  messages_.reserve(snap->entries.size());
  std::size_t bytes = 0;
  for (const auto& e : snap->entries) bytes += e.file.name.size() + 1;
  names_.clear();
  names_.reserve(bytes);
  for (auto& e : snap->entries) {
    messages_.push_back(MessageInfo{std::move(e.uidl), e.crlf_size});
    Entry entry;
    set_file(entry, e.file);
    entry.crlf_size = e.crlf_size;
    entries_.push_back(entry);
  }
  stats_.index = MaildirOpenStats::Index::loaded;
  stats_.sizes_from_index = entries_.size();
  stats_.listed = false;
  return true;
}

void MaildirMailbox::write_snapshot_now(detail::SnapshotStamps now) {
  // Only a state the next login would compute the same way from the same
  // files: UIDLs recorded and adoption closed, no stray duplicates, and the
  // directories not dirty (Dovecot's rule).
  if (options_.mode != MaildirOptions::Mode::serve || stats_.adoption_open ||
      stats_.uidls_write_error || !duplicates_.empty() ||
      now.dirty(std::chrono::nanoseconds(limits::maildir_sync_window).count())) {
    return;
  }
  // Taken after this session's own append: only lock holders write it.
  now.uidls = uidls_stamp(dirs_.root.get());
  if (now.uidls == detail::FileStamp{}) return;
  detail::Snapshot snap;
  snap.stamps = now;
  snap.entries.reserve(entries_.size());
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    snap.entries.push_back({file_of(entries_[i]), entries_[i].crlf_size, messages_[i].uidl});
  }
  // A cache like the index: failing to write it only costs a listing.
  stats_.snapshot_written = !detail::write_snapshot(dirs_.root.get(), snap);
}

std::error_code MaildirMailbox::build_snapshot() {
  detail::SnapshotStamps now;
  if (auto ec = take_stamps(dirs_, now)) return ec;
  if (use_snapshot(now)) return {};
  std::vector<detail::ScannedFile> files;
  if (auto ec =
          detail::scan_maildir(dirs_.new_dir.get(), dirs_.cur_dir.get(), files, &duplicates_)) {
    return ec;
  }
  UidlSources uidl;
  if (auto ec = read_uidl_sources(files, uidl)) return ec;

  detail::IndexRead index = detail::read_index(dirs_.root.get());
  using State = detail::IndexRead::State;
  if (index.state == State::unsafe) return store_errc::unsafe_path;
  stats_.index = index.state == State::loaded    ? MaildirOpenStats::Index::loaded
                 : index.state == State::invalid ? MaildirOpenStats::Index::invalid
                                                 : MaildirOpenStats::Index::missing;
  bool changed = index.state != State::loaded;

  // Session order: first the messages the index knows, in its order...
  constexpr std::uint64_t unknown = UINT64_MAX;
  std::vector<std::uint64_t> cached(files.size(), unknown);
  std::vector<bool> placed(files.size(), false);
  std::vector<std::size_t> order;
  order.reserve(files.size());
  detail::BaseFinder finder(files);
  for (const auto& ie : index.entries) {
    std::size_t i = finder.find(ie.base);
    if (i == detail::BaseFinder::npos) {
      ++stats_.index_entries_dropped;
      changed = true;
      continue;
    }
    const detail::ScannedFile* f = &files[i];
    if (placed[i]) {  // listed twice: not an index we wrote; first one wins
      changed = true;
      continue;
    }
    placed[i] = true;
    order.push_back(i);
    // Size and mtime unchanged: trust the stored size. Renames (flag
    // changes, new/ -> cur/) keep both, so they do not force a re-read.
    if (f->file_size == ie.file_size && f->mtime_ns == ie.mtime_ns) cached[i] = ie.crlf_size;
  }
  // ...then the ones it does not, oldest first, as delivery ordered them.
  std::size_t known = order.size();
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (!placed[i]) order.push_back(i);
  }
  std::sort(order.begin() + static_cast<std::ptrdiff_t>(known), order.end(),
            [&](std::size_t a, std::size_t b) {
              if (files[a].mtime_ns != files[b].mtime_ns) {
                return files[a].mtime_ns < files[b].mtime_ns;
              }
              return detail::delivered_before(files[a].base(), files[b].base());
            });
  if (order.size() != known) changed = true;

  // The files to read, measured first (in parallel for many); those whose
  // header an X-UIDL look needs are read in the loop below, one by one.
  std::vector<std::size_t> todo;
  for (std::size_t i : order) {
    if (cached[i] == unknown && !uidl.wants_x_uidl(i)) todo.push_back(i);
  }
  std::vector<detail::Measured> measured_now;
  detail::measure_files(dirs_.new_dir.get(), dirs_.cur_dir.get(), files, todo, measured_now);
  std::size_t next_measured = 0;  // todo follows `order`, as the loop does

  std::vector<char> buf;
  entries_.clear();
  entries_.reserve(order.size());
  std::size_t bytes = 0;
  for (const auto& f : files) bytes += f.name.size() + 1;
  names_.clear();
  names_.reserve(bytes);
  std::vector<std::size_t> file_of_entry;  // scan index of each entry
  file_of_entry.reserve(order.size());
  for (std::size_t i : order) {
    detail::ScannedFile& f = files[i];
    Entry e;
    detail::HeaderCollector header;
    bool want_header = uidl.wants_x_uidl(i);
    bool measured = cached[i] == unknown;
    if (!measured) {
      e.crlf_size = cached[i];
      ++stats_.sizes_from_index;
    } else if (!want_header) {
      const detail::Measured& m = measured_now[next_measured++];
      changed = true;
      if (m.ec && vanished(m.ec)) continue;
      if (m.ec) return m.ec;
      e.crlf_size = m.crlf_size;
      ++stats_.sizes_measured;
    } else {
      if (buf.empty()) buf.resize(limits::maildir_measure_block);
      auto ec = detail::measure_file(dirs_.fd(f.dir), f, e.crlf_size, buf,
                                     want_header ? &header : nullptr);
      changed = true;
      if (ec && vanished(ec)) continue;
      if (ec) return ec;
      ++stats_.sizes_measured;
    }
    if (want_header) {
      auto ec = look_for_x_uidl(i, f, measured ? &header : nullptr, uidl);
      if (ec && vanished(ec)) continue;
      if (ec) return ec;
    }
    set_file(e, f);
    entries_.push_back(e);
    file_of_entry.push_back(i);
  }
  choose_uidls(uidl, file_of_entry);

  if (changed && options_.mode != MaildirOptions::Mode::dry_run) {
    write_index_now(stats_.index_write_error);
    stats_.index_written = !stats_.index_write_error;
  }
  write_snapshot_now(now);
  return {};
}

void MaildirMailbox::write_index_now(std::error_code& write_error) {
  std::vector<detail::IndexEntry> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) {
    if (e.removed) continue;
    out.push_back({std::string(base_of(e)), e.file_size, e.mtime_ns, e.crlf_size});
  }
  // The index is a cache: a read-only or full Maildir still serves mail.
  write_error = detail::write_index(dirs_.root.get(), out);
}

void MaildirMailbox::set_file(Entry& e, const detail::ScannedFile& file) {
  // Names are at most NAME_MAX (255) octets: from readdir, or checked by
  // the snapshot parser. 4 GiB of names would be ~16 million renames.
  if (file.name.size() > UINT16_MAX || names_.size() > UINT32_MAX - UINT16_MAX - 1) {
    throw std::length_error("maildir entry names");
  }
  e.name_at = static_cast<std::uint32_t>(names_.size());
  e.name_len = static_cast<std::uint16_t>(file.name.size());
  e.base_len = static_cast<std::uint16_t>(file.base_len);
  e.dir = file.dir;
  e.file_size = file.file_size;
  e.mtime_ns = file.mtime_ns;
  names_.append(file.name);
  names_.push_back('\0');
}

std::size_t MaildirMailbox::heap_bytes() const noexcept {
  auto str = [](const std::string& v) { return v.capacity() > 15 ? v.capacity() + 1 : 0; };
  std::size_t n = sizeof(*this) + str(path_) + str(names_);
  n += entries_.capacity() * sizeof(Entry) + messages_.capacity() * sizeof(MessageInfo);
  for (const auto& m : messages_) n += str(m.uidl);
  n += duplicates_.capacity() * sizeof(detail::ScannedFile);
  for (const auto& d : duplicates_) n += str(d.name);
  n += report_.capacity() * sizeof(UidlReportEntry);
  return n;
}

detail::ScannedFile MaildirMailbox::file_of(const Entry& e) const {
  detail::ScannedFile f;
  f.name = std::string(name_of(e));
  f.base_len = e.base_len;
  f.dir = e.dir;
  f.file_size = e.file_size;
  f.mtime_ns = e.mtime_ns;
  return f;
}

std::error_code MaildirMailbox::relocate() {
  if (!dirs_.new_dir || !dirs_.cur_dir) {
    if (auto ec = reopen_dirs(true)) return ec;
  }
  std::vector<detail::ScannedFile> files;
  if (auto ec = detail::scan_maildir(dirs_.new_dir.get(), dirs_.cur_dir.get(), files)) return ec;
  for (auto& e : entries_) {
    if (e.removed) continue;
    const detail::ScannedFile* f = find_by_base(files, base_of(e));
    if (f == nullptr) continue;  // gone: callers treat ENOENT on the old name
    if (name_of(e) == f->name && e.dir == f->dir) continue;
    const auto file_size = e.file_size;  // what the snapshot measured stays
    const auto mtime_ns = e.mtime_ns;
    set_file(e, *f);
    e.file_size = file_size;
    e.mtime_ns = mtime_ns;
  }
  return {};
}

}  // namespace popbox::store
