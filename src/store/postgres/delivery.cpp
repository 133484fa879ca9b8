// PgStore's deliveries: the body once, a message row per recipient, one
// transaction. The conversion to wire form and the cutting into chunks is
// the storage-independent WireChunker; this file only stores what it gives.
#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <optional>

#include "core/limits.hpp"
#include "store/fault_point.hpp"
#include "store/postgres/pg_error.hpp"
#include "store/postgres/pg_store.hpp"
#include "store/postgres/wire_form.hpp"

namespace popbox::store::pg {
namespace {

constexpr Statement insert_body{"popbox_insert_body",
                                "INSERT INTO bodies (refs) VALUES ($1) RETURNING id"};
constexpr Statement insert_chunk{
    "popbox_insert_chunk", "INSERT INTO body_chunks (body_id, seq, data) VALUES ($1, $2, $3)"};
constexpr Statement set_body_size{"popbox_set_body_size",
                                  "UPDATE bodies SET size = $2 WHERE id = $1"};
// Creates the maildrop or counts the message in it, and hands out its uid.
constexpr Statement count_in{
    "popbox_count_in",
    "INSERT INTO mailboxes (user_name, next_uid, messages, bytes) VALUES ($1, 2, 1, $2) "
    "ON CONFLICT (user_name) DO UPDATE SET next_uid = mailboxes.next_uid + 1, "
    "messages = mailboxes.messages + 1, bytes = mailboxes.bytes + EXCLUDED.bytes "
    "RETURNING id, uidvalidity, next_uid - 1"};
constexpr Statement insert_message{
    "popbox_insert_message",
    "INSERT INTO messages (mailbox_id, uidl, size, body_id, prefix) VALUES ($1, $2, $3, $4, $5)"};

/// One transaction that stores the body as it is written and, at commit,
/// a message per recipient. A recipient without a name is refused alone.
class PgDelivery final : public Delivery {
 public:
  PgDelivery(Pool& pool, std::span<const DeliveryTarget> targets)
      : pool_(pool), targets_(targets.begin(), targets.end()), results_(targets.size()) {
    for (std::size_t i = 0; i < targets_.size(); ++i) {
      if (targets_[i].mailbox.user.empty()) {
        results_[i] = store_errc::bad_path;
      } else {
        ++valid_;
      }
    }
  }
  ~PgDelivery() override { abort(); }

  std::error_code write(std::string_view bytes) override {
    if (!start()) return error_;
    error_ = chunker_->write(bytes);
    return error_;
  }

  std::vector<std::error_code> commit() override {
    if (done_) return std::vector<std::error_code>(targets_.size(), store_errc::io);
    if (valid_ == 0) {
      abort();
      return results_;
    }
    if (start()) finish_body();
    if (!error_) store_messages();
    if (!error_) lease_->exec("COMMIT", error_);
    if (error_) {
      abort();
      for (std::size_t i = 0; i < targets_.size(); ++i) {
        if (!results_[i]) results_[i] = error_;
      }
      uidls_.assign(targets_.size(), std::string());
    } else {
      done_ = true;
      lease_ = Lease();
    }
    return results_;
  }

  void abort() noexcept override {
    done_ = true;
    if (lease_) {
      lease_->rollback_if_open();
      lease_ = Lease();
    }
  }

  /// The new UIDLs in the order of the targets ("" where refused).
  const std::vector<std::string>& uidls() const { return uidls_; }

 private:
  /// Begins the transaction and the body on the first call; false (error_
  /// set) once anything failed or no recipient is left.
  bool start() {
    if (done_ && !error_) error_ = store_errc::io;
    if (error_) return false;
    if (valid_ == 0) {
      error_ = store_errc::bad_path;
      return false;
    }
    if (lease_) return true;
    for (int attempt = 0; attempt < 2; ++attempt) {
      lease_ = pool_.acquire(error_);
      if (error_) return false;
      lease_->exec("BEGIN", error_);
      // Nothing is written yet: a connection that died while idle in the
      // pool may be replaced once.
      if (error_ != make_error_code(pg_errc::connection_lost)) break;
      lease_.discard();
      pool_.drop_idle();
    }
    if (error_) return false;
    Result r =
        lease_->run(insert_body, Params().integer(static_cast<std::int64_t>(valid_)), error_);
    if (error_) return false;
    body_id_ = r.integer(0, 0);
    chunker_.emplace(limits::pg_body_chunk, [this](std::string_view chunk) {
      std::error_code e;
      lease_->run(insert_chunk, Params().integer(body_id_).integer(seq_++).binary(chunk), e);
      return e;
    });
    return true;
  }

  void finish_body() {
    error_ = chunker_->finish();
    if (error_) return;
    lease_->run(set_body_size,
                Params().integer(body_id_).integer(static_cast<std::int64_t>(chunker_->size())),
                error_);
  }

  /// A message row per recipient, maildrop rows locked in name order so two
  /// deliveries to the same recipients never deadlock.
  void store_messages() {
    std::vector<std::size_t> order(targets_.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return targets_[a].mailbox.user < targets_[b].mailbox.user;
    });
    uidls_.assign(targets_.size(), std::string());
    for (std::size_t k : order) {
      if (results_[k]) continue;
      const DeliveryTarget& t = targets_[k];
      const std::string prefix = to_wire_form(t.prefix);
      const auto size = static_cast<std::int64_t>(prefix.size() + chunker_->size());
      Result r = lease_->run(count_in, Params().text(t.mailbox.user).integer(size), error_);
      if (error_) return;
      std::string uidl = fmt::format("{:08X}{:08X}", r.integer(0, 1), r.integer(0, 2));
      lease_->run(insert_message,
                  Params()
                      .integer(r.integer(0, 0))
                      .text(uidl)
                      .integer(size)
                      .integer(body_id_)
                      .binary(prefix),
                  error_);
      if (error_) return;
      uidls_[k] = std::move(uidl);
      testing::fault_point("delivery.visible");
    }
  }

  Pool& pool_;
  std::vector<DeliveryTarget> targets_;
  std::vector<std::error_code> results_;
  std::vector<std::string> uidls_;
  std::size_t valid_ = 0;
  Lease lease_;
  std::int64_t body_id_ = 0;
  std::int64_t seq_ = 0;
  std::optional<WireChunker> chunker_;
  std::error_code error_;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<Delivery> PgStore::begin_delivery(std::span<const DeliveryTarget> targets) {
  return std::make_unique<PgDelivery>(*pool_, targets);
}

std::vector<std::string> PgStore::deliver(std::span<const Recipient> recipients,
                                          const BodySource& source, std::error_code& ec) {
  ec.clear();
  if (recipients.empty()) return {};
  std::vector<DeliveryTarget> targets;
  for (const Recipient& r : recipients) {
    if (r.user.empty()) {  // refused before anything is stored
      ec = store_errc::bad_path;
      return {};
    }
    DeliveryTarget t;
    t.mailbox.user = r.user;
    t.prefix = r.prefix;
    targets.push_back(std::move(t));
  }
  PgDelivery d(*pool_, targets);
  std::string block(limits::pg_body_chunk, '\0');
  for (;;) {
    const std::size_t n = source(block, ec);
    if (ec) return {};
    if (n == 0) break;
    ec = d.write(std::string_view(block.data(), n));
    if (ec) return {};
  }
  for (const std::error_code& e : d.commit()) {
    if (e) {
      ec = e;
      return {};
    }
  }
  return d.uidls();
}

}  // namespace popbox::store::pg
