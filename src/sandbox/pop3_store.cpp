#include "sandbox/pop3_store.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/dot_codec.hpp"

namespace popbox::sandbox {

struct Pop3Store::Shared {
  explicit Shared(Hub& h) : hub(h) {}
  Hub& hub;
  std::mutex mutex;
  std::set<std::string, std::less<>> locked;  // addresses with a session
  // (inbox id, message id) -> the octets RETR sends: messages never change
  // and ids are never reused, so an entry stays true.
  std::map<std::pair<std::string, std::string>, std::uint64_t> wire_sizes;
};

namespace {

class StringReader final : public store::MessageReader {
 public:
  explicit StringReader(std::string octets) : octets_(std::move(octets)) {}
  std::size_t read(std::span<char> buf, std::error_code& ec) override {
    ec.clear();
    const std::size_t n = std::min(buf.size(), octets_.size() - offset_);
    std::memcpy(buf.data(), octets_.data() + offset_, n);
    offset_ += n;
    return n;
  }
  std::optional<std::size_t> read_nowait(std::span<char> buf, std::error_code& ec) override {
    return read(buf, ec);  // in memory since open()
  }

 private:
  std::string octets_;
  std::size_t offset_ = 0;
};

class InboxMailbox final : public store::Mailbox {
 public:
  InboxMailbox(std::shared_ptr<Pop3Store::Shared> shared, std::string address, std::string inbox_id,
               std::vector<MessageInfo> snapshot, std::vector<store::MessageInfo> infos)
      : shared_(std::move(shared)),
        address_(std::move(address)),
        inbox_id_(std::move(inbox_id)),
        snapshot_(std::move(snapshot)),
        infos_(std::move(infos)) {}
  ~InboxMailbox() override {
    std::lock_guard lock(shared_->mutex);
    shared_->locked.erase(address_);
  }

  const std::vector<store::MessageInfo>& messages() const override { return infos_; }
  bool seen(std::size_t index) const override { return snapshot_.at(index).read; }

  std::unique_ptr<store::MessageReader> open(std::size_t index, std::error_code& ec) override {
    std::string octets;
    ec = shared_->hub.raw(inbox_id_, snapshot_.at(index).id, octets);
    // Deleted through the API meanwhile: like a Maildir file gone.
    if (ec == std::errc::no_such_file_or_directory) ec = store::store_errc::message_gone;
    if (ec) return nullptr;
    return std::make_unique<StringReader>(std::move(octets));
  }

  std::error_code commit(std::span<const std::size_t> deleted,
                         std::span<const std::size_t> retrieved) override {
    // A message the API removed meanwhile is gone already: not an error.
    auto gone = [](std::error_code ec) {
      return !ec || ec == std::errc::no_such_file_or_directory;
    };
    std::error_code first;
    for (std::size_t i : retrieved) {
      if (std::find(deleted.begin(), deleted.end(), i) != deleted.end()) continue;
      auto ec = shared_->hub.mark_read(inbox_id_, snapshot_.at(i).id, true);
      if (!gone(ec) && !first) first = ec;
    }
    for (std::size_t i : deleted) {
      auto ec = shared_->hub.delete_message(inbox_id_, snapshot_.at(i).id);
      if (!gone(ec) && !first) first = ec;
    }
    return first;
  }

 private:
  std::shared_ptr<Pop3Store::Shared> shared_;
  std::string address_, inbox_id_;
  std::vector<MessageInfo> snapshot_;
  std::vector<store::MessageInfo> infos_;
};

}  // namespace

Pop3Store::Pop3Store(Hub& hub) : shared_(std::make_shared<Shared>(hub)) {}

std::unique_ptr<store::Mailbox> Pop3Store::open(const store::OpenRequest& req,
                                                std::error_code& ec) {
  ec.clear();
  Hub& hub = shared_->hub;
  auto inbox = hub.inbox_by_address(req.user);
  // The inbox's address, or the name as typed for an address without one.
  const std::string address = inbox ? inbox->address : req.user;
  if (address.empty()) {
    ec = store::store_errc::bad_path;
    return nullptr;
  }
  {
    std::lock_guard lock(shared_->mutex);
    if (!shared_->locked.insert(address).second) {
      ec = store::store_errc::in_use;
      return nullptr;
    }
  }
  std::vector<MessageInfo> snapshot;
  if (inbox) {
    std::size_t total = 0;
    snapshot =
        hub.messages(inbox->id, 0, std::numeric_limits<std::size_t>::max(), total);  // newest first
    std::reverse(snapshot.begin(), snapshot.end());
  }
  std::vector<MessageInfo> kept;
  std::vector<store::MessageInfo> infos;
  for (MessageInfo& m : snapshot) {
    const auto key = std::pair{m.inbox_id, m.id};
    std::optional<std::uint64_t> wire;
    {
      std::lock_guard lock(shared_->mutex);
      if (auto it = shared_->wire_sizes.find(key); it != shared_->wire_sizes.end()) {
        wire = it->second;
      }
    }
    if (!wire) {
      // STAT and LIST count what RETR sends: bare LFs go out as CRLF.
      std::string octets;
      if (hub.raw(m.inbox_id, m.id, octets)) continue;  // deleted meanwhile: not in the snapshot
      core::CrlfSizer sizer;
      sizer.add(octets);
      wire = sizer.total();
      std::lock_guard lock(shared_->mutex);
      shared_->wire_sizes[key] = *wire;
    }
    infos.push_back(store::MessageInfo{m.id, *wire});
    kept.push_back(std::move(m));
  }
  return std::make_unique<InboxMailbox>(shared_, address, inbox ? inbox->id : "", std::move(kept),
                                        std::move(infos));
}

}  // namespace popbox::sandbox
