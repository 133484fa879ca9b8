// Taking the snapshot: list the Maildir (the truth), take sizes from the
// index where the file is unchanged, measure the rest, keep the index order.
#include "store/maildir_mailbox.hpp"

#include <algorithm>
#include <cerrno>

#include "store/maildir_index.hpp"
#include "store/maildir_name.hpp"
#include "store/maildir_uidls.hpp"
#include "store/x_uidl.hpp"

namespace popbox::store {
namespace {

constexpr std::size_t measure_block = 64 * 1024;

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
  // open_maildir logs an unsafe directory itself.
  if ((ec = detail::open_maildir(path, box->dirs_))) return nullptr;
  box->lock_ = detail::MaildropLock::acquire(box->dirs_.root.get(), ec);
  if (!ec) ec = box->build_snapshot();
  if (ec == store_errc::unsafe_path) detail::log_unsafe_path(path, box->dirs_.root.get());
  if (ec) return nullptr;
  return box;
}

std::error_code MaildirMailbox::build_snapshot() {
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
              return files[a].base() < files[b].base();
            });
  if (order.size() != known) changed = true;

  std::vector<char> buf;
  entries_.clear();
  entries_.reserve(order.size());
  std::vector<std::size_t> file_of_entry;  // scan index of each entry
  file_of_entry.reserve(order.size());
  for (std::size_t i : order) {
    Entry e;
    e.file = std::move(files[i]);
    detail::HeaderCollector header;
    bool want_header = uidl.wants_x_uidl(i);
    bool measured = cached[i] == unknown;
    if (!measured) {
      e.crlf_size = cached[i];
      ++stats_.sizes_from_index;
    } else {
      if (buf.empty()) buf.resize(measure_block);
      auto ec = detail::measure_file(dirs_.fd(e.file.dir), e.file, e.crlf_size, buf,
                                     want_header ? &header : nullptr);
      changed = true;
      if (ec && vanished(ec)) continue;
      if (ec) return ec;
      ++stats_.sizes_measured;
    }
    if (want_header) {
      auto ec = look_for_x_uidl(i, e.file, measured ? &header : nullptr, uidl);
      if (ec && vanished(ec)) continue;
      if (ec) return ec;
    }
    entries_.push_back(std::move(e));
    file_of_entry.push_back(i);
  }
  choose_uidls(uidl, file_of_entry);

  if (changed && options_.mode != MaildirOptions::Mode::dry_run) {
    write_index_now(stats_.index_write_error);
    stats_.index_written = !stats_.index_write_error;
  }
  return {};
}

void MaildirMailbox::write_index_now(std::error_code& write_error) {
  std::vector<detail::IndexEntry> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) {
    if (e.removed) continue;
    out.push_back({std::string(e.file.base()), e.file.file_size, e.file.mtime_ns, e.crlf_size});
  }
  // The index is a cache: a read-only or full Maildir still serves mail.
  write_error = detail::write_index(dirs_.root.get(), out);
}

std::error_code MaildirMailbox::relocate() {
  std::vector<detail::ScannedFile> files;
  if (auto ec = detail::scan_maildir(dirs_.new_dir.get(), dirs_.cur_dir.get(), files)) return ec;
  for (auto& e : entries_) {
    if (e.removed) continue;
    const detail::ScannedFile* f = find_by_base(files, e.file.base());
    if (f == nullptr) continue;  // gone: callers treat ENOENT on the old name
    e.file.name = f->name;
    e.file.base_len = f->base_len;
    e.file.dir = f->dir;
  }
  return {};
}

}  // namespace popbox::store
