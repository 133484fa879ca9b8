#include "store/owned_mailbox.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include "core/log.hpp"
#include "core/privileges.hpp"

namespace popbox::store {
namespace {

class OwnedReader final : public MessageReader {
 public:
  OwnedReader(std::unique_ptr<MessageReader> inner, Owner owner)
      : inner_(std::move(inner)), owner_(owner) {}
  ~OwnedReader() override {
    std::error_code ec;
    core::FsIdGuard as_owner(owner_.uid, owner_.gid, ec);
    inner_.reset();
  }
  OwnedReader(const OwnedReader&) = delete;
  OwnedReader& operator=(const OwnedReader&) = delete;

  std::size_t read(std::span<char> buf, std::error_code& ec) override {
    core::FsIdGuard as_owner(owner_.uid, owner_.gid, ec);
    if (ec) return 0;
    return inner_->read(buf, ec);
  }

  // A read through the already open fd checks no permission, so it needs
  // no id switch (and an event thread, which holds no CAP_SETUID, could not
  // make one).
  std::optional<std::size_t> read_nowait(std::span<char> buf, std::error_code& ec) override {
    return inner_->read_nowait(buf, ec);
  }

 private:
  std::unique_ptr<MessageReader> inner_;
  Owner owner_;
};

class OwnedMailbox final : public Mailbox {
 public:
  OwnedMailbox(std::unique_ptr<Mailbox> inner, Owner owner)
      : inner_(std::move(inner)), owner_(owner) {}
  ~OwnedMailbox() override {
    std::error_code ec;
    core::FsIdGuard as_owner(owner_.uid, owner_.gid, ec);
    inner_.reset();
  }
  OwnedMailbox(const OwnedMailbox&) = delete;
  OwnedMailbox& operator=(const OwnedMailbox&) = delete;

  const std::vector<MessageInfo>& messages() const override { return inner_->messages(); }
  bool seen(std::size_t index) const override { return inner_->seen(index); }

  std::unique_ptr<MessageReader> open(std::size_t index, std::error_code& ec) override {
    core::FsIdGuard as_owner(owner_.uid, owner_.gid, ec);
    if (ec) return nullptr;
    auto reader = inner_->open(index, ec);
    if (!reader) return nullptr;
    return std::make_unique<OwnedReader>(std::move(reader), owner_);
  }

  std::error_code commit(std::span<const std::size_t> deleted,
                         std::span<const std::size_t> retrieved) override {
    std::error_code ec;
    core::FsIdGuard as_owner(owner_.uid, owner_.gid, ec);
    if (ec) return make_error_code(store_errc::owner_refused);
    return inner_->commit(deleted, retrieved);
  }

 private:
  std::unique_ptr<Mailbox> inner_;
  Owner owner_;
};

}  // namespace

std::optional<Owner> entry_owner(std::optional<unsigned> uid, std::optional<unsigned> gid,
                                 unsigned first_valid_uid, std::error_code& ec) {
  ec.clear();
  if (!uid && !gid) return std::nullopt;
  const Owner server{::getuid(), ::getgid()};
  const Owner owner{uid ? static_cast<uid_t>(*uid) : server.uid,
                    gid ? static_cast<gid_t>(*gid) : server.gid};
  // Root is never a mailbox owner, even for a server that runs as root.
  if (owner.uid == 0 || owner.gid == 0) {
    ec = make_error_code(store_errc::owner_refused);
    return std::nullopt;
  }
  if (owner == server) return std::nullopt;
  if (owner.uid < first_valid_uid) {
    ec = make_error_code(store_errc::owner_refused);
    return std::nullopt;
  }
  return owner;
}

void log_owner_switch_failed(const Owner& owner) {
  core::log_warn(fmt::format(
      "event=owner_switch_failed uid={} gid={} reason=\"no CAP_SETUID/CAP_SETGID: entries with "
      "their own uid/gid added after start need a restart\"",
      owner.uid, owner.gid));
}

std::unique_ptr<Mailbox> owned_mailbox(std::unique_ptr<Mailbox> inner, Owner owner) {
  return std::make_unique<OwnedMailbox>(std::move(inner), owner);
}

}  // namespace popbox::store
