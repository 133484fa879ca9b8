#include "store/memory_store.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "core/dot_codec.hpp"
#include "store/fault_point.hpp"

namespace popbox::store {

namespace {

struct Message {
  std::uint64_t id = 0;                       // UIDL source: never reused per store
  std::shared_ptr<const std::string> prefix;  // this recipient's header lines
  std::shared_ptr<const std::string> body;    // shared by one delivery's recipients
  std::uint64_t size = 0;                     // stored octets (prefix + body)
  std::uint64_t wire_size = 0;                // what RETR sends
  bool seen = false;
};

struct Drop {
  std::vector<Message> messages;  // delivery order
  bool locked = false;
  std::error_code fail_with;  // for tests
};

}  // namespace

struct MemoryStore::State {
  std::mutex mutex;
  std::map<std::string, Drop, std::less<>> drops;
  std::uint64_t next_id = 1;
};

namespace {

class MemoryReader final : public MessageReader {
 public:
  explicit MemoryReader(Message m) : m_(std::move(m)) {}
  std::size_t read(std::span<char> buf, std::error_code& ec) override {
    ec.clear();
    std::size_t n = 0;
    while (n < buf.size()) {
      const std::string& part = offset_ < m_.prefix->size() ? *m_.prefix : *m_.body;
      std::size_t at = offset_ < m_.prefix->size() ? offset_ : offset_ - m_.prefix->size();
      if (at >= part.size()) break;
      std::size_t take = std::min(buf.size() - n, part.size() - at);
      std::memcpy(buf.data() + n, part.data() + at, take);
      n += take;
      offset_ += take;
    }
    return n;
  }
  std::optional<std::size_t> read_nowait(std::span<char> buf, std::error_code& ec) override {
    return read(buf, ec);  // memory never waits
  }

 private:
  Message m_;
  std::size_t offset_ = 0;
};

class MemoryMailbox final : public Mailbox {
 public:
  MemoryMailbox(std::shared_ptr<MemoryStore::State> state, std::string user,
                std::vector<Message> snapshot)
      : state_(std::move(state)), user_(std::move(user)), snapshot_(std::move(snapshot)) {
    for (const Message& m : snapshot_) {
      infos_.push_back(MessageInfo{"m" + std::to_string(m.id), m.wire_size});
    }
  }
  ~MemoryMailbox() override {
    std::lock_guard lock(state_->mutex);
    state_->drops[user_].locked = false;
  }

  const std::vector<MessageInfo>& messages() const override { return infos_; }
  bool seen(std::size_t index) const override { return snapshot_.at(index).seen; }

  std::unique_ptr<MessageReader> open(std::size_t index, std::error_code& ec) override {
    ec.clear();
    const Message& m = snapshot_.at(index);
    std::lock_guard lock(state_->mutex);
    const auto& now = state_->drops[user_].messages;
    bool there =
        std::any_of(now.begin(), now.end(), [&](const Message& x) { return x.id == m.id; });
    if (!there) {
      ec = store_errc::message_gone;
      return nullptr;
    }
    return std::make_unique<MemoryReader>(m);
  }
  std::unique_ptr<MessageReader> try_open_nowait(std::size_t index) override {
    std::error_code ec;
    return open(index, ec);
  }

  std::error_code commit(std::span<const std::size_t> deleted,
                         std::span<const std::size_t> retrieved) override {
    for (std::size_t i : deleted) (void)snapshot_.at(i);
    for (std::size_t i : retrieved) (void)snapshot_.at(i);
    std::vector<std::uint64_t> gone, seen;
    for (std::size_t i : deleted) gone.push_back(snapshot_[i].id);
    for (std::size_t i : retrieved) seen.push_back(snapshot_[i].id);
    std::lock_guard lock(state_->mutex);
    auto& now = state_->drops[user_].messages;
    // One step under the lock: the whole UPDATE or none of it.
    for (Message& m : now) {
      if (std::find(seen.begin(), seen.end(), m.id) != seen.end()) m.seen = true;
    }
    std::erase_if(now, [&](const Message& m) {
      return std::find(gone.begin(), gone.end(), m.id) != gone.end();
    });
    testing::fault_point("commit.applied");
    return {};
  }

 private:
  std::shared_ptr<MemoryStore::State> state_;
  std::string user_;
  std::vector<Message> snapshot_;
  std::vector<MessageInfo> infos_;
};

class MemoryDelivery final : public Delivery {
 public:
  MemoryDelivery(std::shared_ptr<MemoryStore::State> state, std::span<const DeliveryTarget> targets)
      : state_(std::move(state)), targets_(targets.begin(), targets.end()) {}

  std::error_code write(std::string_view bytes) override {
    if (done_) return store_errc::io;
    body_.append(bytes);
    return {};
  }

  std::vector<std::error_code> commit() override {
    std::vector<std::error_code> out(targets_.size());
    if (done_) {
      std::fill(out.begin(), out.end(), make_error_code(store_errc::io));
      return out;
    }
    done_ = true;
    auto body = std::make_shared<const std::string>(std::move(body_));
    std::lock_guard lock(state_->mutex);
    for (std::size_t i = 0; i < targets_.size(); ++i) {
      const std::string& user = targets_[i].mailbox.user;
      if (user.empty()) {
        out[i] = store_errc::bad_path;
        continue;
      }
      Drop& d = state_->drops[user];
      if (d.fail_with) {
        out[i] = d.fail_with;
        continue;
      }
      Message m;
      m.id = state_->next_id++;
      m.prefix = std::make_shared<const std::string>(targets_[i].prefix);
      m.body = body;
      m.size = m.prefix->size() + body->size();
      core::CrlfSizer sizer;
      sizer.add(*m.prefix);
      sizer.add(*body);
      m.wire_size = sizer.total();
      d.messages.push_back(std::move(m));
      testing::fault_point("delivery.visible");
    }
    return out;
  }

  void abort() noexcept override {
    done_ = true;
    body_.clear();
  }

 private:
  std::shared_ptr<MemoryStore::State> state_;
  std::vector<DeliveryTarget> targets_;
  std::string body_;
  bool done_ = false;
};

}  // namespace

MemoryStore::MemoryStore() : state_(std::make_shared<State>()) {}
MemoryStore::~MemoryStore() = default;

std::unique_ptr<Mailbox> MemoryStore::open(const OpenRequest& req, std::error_code& ec) {
  ec.clear();
  if (req.user.empty()) {
    ec = store_errc::bad_path;
    return nullptr;
  }
  std::vector<Message> snapshot;
  {
    std::lock_guard lock(state_->mutex);
    Drop& d = state_->drops[req.user];
    if (d.locked) {
      ec = store_errc::in_use;
      return nullptr;
    }
    d.locked = true;
    snapshot = d.messages;
  }
  return std::make_unique<MemoryMailbox>(state_, req.user, std::move(snapshot));
}

std::unique_ptr<Delivery> MemoryStore::begin_delivery(std::span<const DeliveryTarget> targets) {
  return std::make_unique<MemoryDelivery>(state_, targets);
}

std::error_code MemoryStore::usage(const OpenRequest& req, Usage& out) {
  out = {};
  std::lock_guard lock(state_->mutex);
  auto it = state_->drops.find(req.user);
  if (it == state_->drops.end()) return {};
  for (const Message& m : it->second.messages) {
    out.bytes += m.size;
    ++out.messages;
  }
  return {};
}

void MemoryStore::fail_deliveries_to(const std::string& user, std::error_code ec) {
  std::lock_guard lock(state_->mutex);
  state_->drops[user].fail_with = ec;
}

}  // namespace popbox::store
