#include "admin/mail_ops.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <limits>

#include "core/limits.hpp"
#include "core/privileges.hpp"
#include "store/maildir_layout.hpp"
#include "store/maildir_mailbox.hpp"
#include "store/maildir_snapshot.hpp"
#include "store/uidl_record.hpp"

namespace popbox::admin {

namespace {

// Runs as the maildrop's owner while it lives (nothing when there is none).
class AsOwner {
 public:
  AsOwner(const std::optional<store::Owner>& owner, std::error_code& ec) {
    if (owner) guard_.emplace(owner->uid, owner->gid, ec);
  }

 private:
  std::optional<core::FsIdGuard> guard_;
};

// The state of popbox-snapshot against the Maildir as it is now.
std::string index_state(const store::detail::MaildirDirs& dirs) {
  using namespace store::detail;
  auto snap = read_snapshot(dirs.root.get());
  if (!snap) return "none";
  struct stat st {};
  FileStamp uidls;
  if (::fstatat(dirs.root.get(), uidls_file_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISREG(st.st_mode)) {
    uidls = stamp_of(st);
  }
  if (!dirs.new_dir || !dirs.cur_dir || ::fstat(dirs.new_dir.get(), &st) != 0) return "stale";
  const FileStamp new_dir = stamp_of(st);
  if (::fstat(dirs.cur_dir.get(), &st) != 0) return "stale";
  const FileStamp cur_dir = stamp_of(st);
  const auto& was = snap->stamps;
  const bool same = was.new_dir == new_dir && was.cur_dir == cur_dir && was.uidls == uidls &&
                    uidls != FileStamp{};
  const auto window = std::chrono::nanoseconds(limits::maildir_sync_window).count();
  return same && !was.dirty(window) ? "fresh" : "stale";
}

// The numbers of a locked maildrop, from the snapshot its session left.
bool stat_from_snapshot(int root, MailboxStat& out) {
  auto snap = store::detail::read_snapshot(root);
  if (!snap) return false;
  for (const auto& e : snap->entries) {
    ++out.messages;
    out.octets += e.crlf_size;
    const auto t = delivery_time(e.file.name, e.file.mtime_ns);
    if (!out.oldest || t < *out.oldest) out.oldest = t;
  }
  out.counted = true;
  out.from_snapshot = true;
  return true;
}

store::MaildirOptions options_of(const MaildropRef& ref, store::MaildirOptions::Mode mode) {
  store::MaildirOptions o;
  o.mode = mode;
  o.uidl_format = ref.uidl_format;
  o.adopt_x_uidl = ref.adopt_x_uidl;
  return o;
}

}  // namespace

std::int64_t delivery_time(std::string_view name, std::int64_t mtime_ns) noexcept {
  const auto dot = name.find('.');
  if (dot != std::string_view::npos && dot > 0 && dot <= 12) {
    std::int64_t t = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + dot, t);
    if (ec == std::errc() && end == name.data() + dot && t > 0) return t;
  }
  return mtime_ns / 1'000'000'000;
}

MailboxStat mailbox_stat(const MaildropRef& ref, std::error_code& ec) {
  ec.clear();
  MailboxStat out;
  AsOwner as_owner(ref.owner, ec);
  if (ec) return out;
  store::detail::MaildirDirs dirs;
  if ((ec = store::detail::open_maildir(ref.path, dirs, store::detail::Create::no))) return out;
  if (!dirs.root) {
    out.counted = true;  // no Maildir yet: an empty maildrop
    return out;
  }
  out.exists = true;
  out.index = index_state(dirs);
  // dry_run: lists the Maildir and takes the lock like a login, writes nothing.
  auto box = store::MaildirMailbox::load(ref.path, ec,
                                         options_of(ref, store::MaildirOptions::Mode::dry_run));
  if (ec == store::failure::in_use) {
    ec.clear();
    out.locked = true;
    stat_from_snapshot(dirs.root.get(), out);
    return out;
  }
  if (!box) return out;
  const auto& msgs = box->messages();
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    out.octets += msgs[i].size;
    const auto f = box->message_file(i);
    const auto t = delivery_time(f.name, f.mtime_ns);
    if (!out.oldest || t < *out.oldest) out.oldest = t;
  }
  out.messages = msgs.size();
  out.counted = true;
  return out;
}

ExpungeResult expunge(const MaildropRef& ref, std::int64_t cutoff, bool dry_run) {
  ExpungeResult out;
  out.user = ref.user;
  std::error_code ec;
  AsOwner as_owner(ref.owner, ec);
  if (ec) {
    out.skipped = "cannot act as the mailbox owner";
    return out;
  }
  store::detail::MaildirDirs dirs;
  if ((ec = store::detail::open_maildir(ref.path, dirs, store::detail::Create::no))) {
    out.skipped = ec.message();
    return out;
  }
  if (!dirs.root) return out;  // no Maildir: nothing to remove
  dirs = {};
  // A dry run writes nothing at all; a real one is a POP3 session that
  // deletes: the same snapshot, lock and commit.
  auto box =
      store::MaildirMailbox::load(ref.path, ec,
                                  options_of(ref, dry_run ? store::MaildirOptions::Mode::dry_run
                                                          : store::MaildirOptions::Mode::serve));
  if (ec == store::failure::in_use) {
    out.skipped = "in use";
    return out;
  }
  if (!box) {
    out.skipped = ec ? ec.message() : "cannot open";
    return out;
  }
  std::vector<std::size_t> old;
  const auto& msgs = box->messages();
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    const auto f = box->message_file(i);
    const auto t = delivery_time(f.name, f.mtime_ns);
    if (t >= cutoff) continue;
    old.push_back(i);
    out.octets += msgs[i].size;
    if (out.messages.size() < limits::admin_listed_messages) {
      out.messages.push_back({msgs[i].uidl, msgs[i].size, t});
    } else {
      out.truncated = true;
    }
  }
  out.removed = old.size();
  if (!dry_run && !old.empty()) {
    if (auto cec = box->commit(old, {})) out.skipped = "commit failed: " + cec.message();
  }
  box.reset();  // unlocks, still as the owner
  return out;
}

}  // namespace popbox::admin
