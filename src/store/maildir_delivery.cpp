// Store::begin_delivery and Store::usage of the Maildir backend: one file
// per recipient (Maildir cannot share a body between prepended headers),
// each written as that recipient's owner, tmp/ -> fsync -> link into new/
// -> fsync new/, and counted in popbox-usage under its lock.
#include <fmt/format.h>

#include <optional>

#include "core/log.hpp"
#include "core/privileges.hpp"
#include "store/fault_point.hpp"
#include "store/maildir_store.hpp"
#include "store/maildir_usage.hpp"
#include "store/maildir_writer.hpp"
#include "store/owned_mailbox.hpp"

namespace popbox::store {
namespace {

// Converts CRLF to LF across block boundaries (a CR at the end of a block is
// held until the next block shows whether an LF follows). Lone CRs stay.
class CrlfToLf {
 public:
  std::string_view convert(std::string_view in) {
    out_.clear();
    for (char c : in) {
      if (held_cr_) {
        held_cr_ = false;
        if (c != '\n') out_.push_back('\r');
      }
      if (c == '\r') {
        held_cr_ = true;
        continue;
      }
      out_.push_back(c);
    }
    return out_;
  }
  std::string_view finish() {
    bool held = std::exchange(held_cr_, false);
    return held ? "\r" : "";
  }

 private:
  std::string out_;
  bool held_cr_ = false;
};

// The calling thread acts as `owner` (if any) while alive.
class AsOwner {
 public:
  AsOwner(const std::optional<Owner>& owner, std::error_code& ec) {
    ec.clear();
    if (!owner) return;
    guard_.emplace(owner->uid, owner->gid, ec);
    if (!ec) return;
    log_owner_switch_failed(*owner);
    ec = store_errc::owner_refused;
  }

 private:
  std::optional<core::FsIdGuard> guard_;
};

std::string to_lf(std::string_view crlf) {
  CrlfToLf c;
  std::string out(c.convert(crlf));
  out += c.finish();
  return out;
}

class MaildirDelivery final : public Delivery {
 public:
  MaildirDelivery(const PathTemplate& paths, std::span<const DeliveryTarget> targets) {
    slots_.resize(targets.size());
    for (std::size_t i = 0; i < targets.size(); ++i) {
      Slot& s = slots_[i];
      s.owner = targets[i].mailbox.owner;
      s.path = paths.expand(targets[i].mailbox.user, s.ec);
      if (s.ec) continue;
      AsOwner as(s.owner, s.ec);
      if (s.ec) continue;
      s.writer = std::make_unique<MaildirWriter>(s.path, s.ec);
      s.writer->set_counted();
      if (!s.ec) s.ec = s.writer->write(to_lf(targets[i].prefix));
      if (s.ec) drop(s);
    }
  }

  ~MaildirDelivery() override { abort(); }

  std::error_code write(std::string_view bytes) override {
    std::string_view lf = body_.convert(bytes);
    return write_all(lf);
  }

  std::vector<std::error_code> commit() override {
    std::vector<std::error_code> out;
    if (!committed_) {
      committed_ = true;
      write_all(body_.finish());
    }
    for (Slot& s : slots_) {
      if (s.writer) commit_one(s);
      out.push_back(s.ec);
    }
    return out;
  }

  void abort() noexcept override {
    for (Slot& s : slots_) {
      if (s.writer) drop(s);
    }
  }

 private:
  struct Slot {
    std::optional<Owner> owner;
    std::string path;
    std::unique_ptr<MaildirWriter> writer;  // null once done or failed
    std::error_code ec;
  };

  std::error_code write_all(std::string_view lf) {
    std::error_code last;
    bool any = false;
    for (Slot& s : slots_) {
      if (!s.writer) {
        if (!last) last = s.ec;
        continue;
      }
      if ((s.ec = s.writer->write(lf))) {
        last = s.ec;
        drop(s);
        continue;
      }
      any = true;
    }
    return any || slots_.empty() ? std::error_code() : last;
  }

  // Removes the tmp/ file as the owner (tmp/ may be theirs alone).
  static void drop(Slot& s) noexcept {
    std::error_code ignored;
    AsOwner as(s.owner, ignored);
    s.writer.reset();
  }

  static void commit_one(Slot& s) {
    AsOwner as(s.owner, s.ec);
    if (s.ec) return drop(s);
    const std::uint64_t size = s.writer->size();
    {
      // Held from before the message is visible until it is counted: a
      // rebuild of the count never sees it half-way.
      detail::UsageCounter counter(s.writer->dirs(), s.ec);
      if (!s.ec) s.ec = counter.begin_change();
      if (!s.ec) s.ec = s.writer->commit_deferred();
      if (s.ec) return drop(s);
      testing::fault_point("delivery.visible");
      if (auto ec = counter.add(static_cast<std::int64_t>(size), 1)) {
        // The message is stored; the count stays pending and is rebuilt.
        core::log_warn(fmt::format("event=usage_update_failed maildir={} error=\"{}\"",
                                   core::log_escape(s.path), ec.message()));
      }
    }
    s.ec = s.writer->sync_new_dir();
    s.writer.reset();
  }

  std::vector<Slot> slots_;
  CrlfToLf body_;
  bool committed_ = false;
};

}  // namespace

std::unique_ptr<Delivery> MaildirStore::begin_delivery(std::span<const DeliveryTarget> targets) {
  return std::make_unique<MaildirDelivery>(template_, targets);
}

std::error_code MaildirStore::usage(const OpenRequest& req, Usage& out) {
  out = {};
  std::error_code ec;
  std::string path = template_.expand(req.user, ec);
  if (ec) return ec;
  AsOwner as(req.owner, ec);
  if (ec) return ec;
  detail::MaildirDirs dirs;
  if ((ec = detail::open_maildir(path, dirs, detail::Create::no))) return ec;
  return detail::kept_usage(dirs, out);
}

}  // namespace popbox::store
