// PgStore::open, the locked snapshot and the chunk-streaming reader.
#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "core/limits.hpp"
#include "store/fault_point.hpp"
#include "store/postgres/pg_error.hpp"
#include "store/postgres/pg_store.hpp"
#include "store/postgres/schema.hpp"

namespace popbox::store::pg {
namespace {

constexpr Statement find_mailbox{"popbox_find_mailbox",
                                 "SELECT id FROM mailboxes WHERE user_name = $1"};
constexpr Statement create_mailbox{
    "popbox_create_mailbox",
    "INSERT INTO mailboxes (user_name) VALUES ($1) ON CONFLICT (user_name) DO NOTHING "
    "RETURNING id"};
// Login in one round trip: find and lock, then (run after the lock) list.
constexpr Statement find_and_lock{
    "popbox_find_and_lock",
    "SELECT id, pg_try_advisory_lock(id) FROM mailboxes WHERE user_name = $1"};
constexpr Statement list_by_user{
    "popbox_list_by_user",
    "SELECT m.id, m.uidl, m.size, length(m.prefix), m.seen FROM messages m "
    "JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.user_name = $1 ORDER BY m.id"};
constexpr Statement try_lock{"popbox_try_lock", "SELECT pg_try_advisory_lock($1::bigint)"};
constexpr Statement unlock{"popbox_unlock", "SELECT pg_advisory_unlock($1::bigint)"};
constexpr Statement list_messages{
    "popbox_list_messages",
    "SELECT id, uidl, size, length(prefix), seen FROM messages WHERE mailbox_id = $1 "
    "ORDER BY id"};
constexpr Statement mailbox_usage{"popbox_mailbox_usage",
                                  "SELECT messages, bytes FROM mailboxes WHERE user_name = $1"};
constexpr Statement message_head{
    "popbox_message_head",
    "SELECT m.prefix, m.body_id, b.size FROM messages m JOIN bodies b ON b.id = m.body_id "
    "WHERE m.id = $1 AND m.mailbox_id = $2"};
constexpr Statement body_chunks{
    "popbox_body_chunks",
    "SELECT data FROM body_chunks WHERE body_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3"};
constexpr Statement first_chunks{
    "popbox_first_chunks",
    "SELECT c.data FROM messages m JOIN body_chunks c ON c.body_id = m.body_id "
    "WHERE m.id = $1 AND m.mailbox_id = $2 ORDER BY c.seq LIMIT $3"};
// Removes the messages, counts them out of the maildrop and drops their
// bodies' references; the bodies left at 0 go with delete_unreferenced.
constexpr Statement delete_messages{
    "popbox_delete_messages",
    "WITH d AS (DELETE FROM messages WHERE mailbox_id = $1 AND id = ANY($2::bigint[]) "
    "RETURNING body_id, size), "
    "m AS (UPDATE mailboxes SET messages = messages - (SELECT count(*) FROM d), "
    "bytes = bytes - (SELECT coalesce(sum(size), 0) FROM d) WHERE id = $1) "
    "UPDATE bodies b SET refs = b.refs - g.n "
    "FROM (SELECT body_id, count(*) AS n FROM d GROUP BY body_id) g WHERE b.id = g.body_id"};
// Only this transaction's decrements can be at 0 (bodies_unreferenced).
constexpr Statement delete_unreferenced{"popbox_delete_unreferenced",
                                        "DELETE FROM bodies WHERE refs = 0"};
constexpr Statement mark_seen{
    "popbox_mark_seen",
    "UPDATE messages SET seen = true WHERE mailbox_id = $1 AND id = ANY($2::bigint[]) "
    "AND NOT seen"};

/// RFC 1939 7: 1-70 octets of 0x21-0x7E.
bool valid_uidl(std::string_view u) {
  return !u.empty() && u.size() <= limits::max_uidl &&
         std::all_of(u.begin(), u.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

/// Streams the per-recipient prefix, then the body's chunks, a few per query.
class PgReader final : public MessageReader {
 public:
  PgReader(Connection& conn, std::string prefix, std::int64_t body_id, std::uint64_t body_size)
      : conn_(conn), prefix_(std::move(prefix)), body_id_(body_id), body_left_(body_size) {}

  std::size_t read(std::span<char> buf, std::error_code& ec) override {
    ec.clear();
    std::size_t n = 0;
    while (n < buf.size()) {
      if (prefix_pos_ < prefix_.size()) {
        const std::size_t k = std::min(buf.size() - n, prefix_.size() - prefix_pos_);
        std::memcpy(buf.data() + n, prefix_.data() + prefix_pos_, k);
        prefix_pos_ += k;
        n += k;
        continue;
      }
      if (row_ < batch_.rows()) {
        const std::string_view chunk = batch_.value(row_, 0);
        const std::size_t k = std::min(buf.size() - n, chunk.size() - offset_);
        std::memcpy(buf.data() + n, chunk.data() + offset_, k);
        offset_ += k;
        n += k;
        if (offset_ == chunk.size()) {
          ++row_;
          offset_ = 0;
        }
        continue;
      }
      if (n > 0 || !fetch(ec)) break;
    }
    return n;
  }

  /// Takes the first batch of chunks, fetched with the message's head.
  bool take(Result batch, std::error_code& ec) {
    batch_ = std::move(batch);
    row_ = 0;
    offset_ = 0;
    const int rows = batch_.rows();
    next_seq_ += rows;
    std::uint64_t got = 0;
    for (int r = 0; r < rows; ++r) got += batch_.value(r, 0).size();
    if (rows < limits::pg_fetch_chunks) done_ = true;
    // The chunks must add up to the body's recorded size exactly, or RETR
    // would send other octets than LIST promised.
    if (got > body_left_ || (done_ && got != body_left_)) {
      ec = pg_errc::bad_data;
      batch_ = Result();
      return false;
    }
    body_left_ -= got;
    return rows > 0;
  }

 private:
  /// The next few chunks; false at the end or on error.
  bool fetch(std::error_code& ec) {
    if (done_) return false;
    Params p;
    p.integer(body_id_).integer(next_seq_).integer(limits::pg_fetch_chunks);
    Result r = conn_.run(body_chunks, p, ec, Format::binary);
    if (ec) return false;
    return take(std::move(r), ec);
  }

  Connection& conn_;
  std::string prefix_;
  std::size_t prefix_pos_ = 0;
  std::int64_t body_id_;
  std::uint64_t body_left_;
  std::int64_t next_seq_ = 0;
  Result batch_;
  int row_ = 0;
  std::size_t offset_ = 0;
  bool done_ = false;
};

class PgMailbox final : public Mailbox {
 public:
  PgMailbox(Lease lease, std::int64_t id) : lease_(std::move(lease)), id_(id) {}

  ~PgMailbox() override {
    std::error_code ec;
    lease_->rollback_if_open();
    Result r = lease_->run(unlock, Params().integer(id_), ec);
    if (ec || r.rows() != 1 || r.value(0, 0) != "t") lease_.discard();
  }

  /// Reads the snapshot; false (and ec) when the query fails.
  bool load(std::error_code& ec) {
    Result r = lease_->run(list_messages, Params().integer(id_), ec);
    return !ec && load(r, ec);
  }

  /// Takes the snapshot from a listing (id, uidl, size, prefix length, seen).
  bool load(const Result& r, std::error_code& ec) {
    const int rows = r.rows();
    infos_.reserve(static_cast<std::size_t>(rows));
    ids_.reserve(static_cast<std::size_t>(rows));
    for (int i = 0; i < rows; ++i) {
      const std::string_view uidl = r.value(i, 1);
      if (!valid_uidl(uidl) || r.integer(i, 2) < r.integer(i, 3)) {
        ec = pg_errc::bad_data;
        return false;
      }
      ids_.push_back(r.integer(i, 0));
      seen_.push_back(r.value(i, 4) == "t");
      infos_.push_back({std::string(uidl), static_cast<std::uint64_t>(r.integer(i, 2))});
    }
    return true;
  }

  const std::vector<MessageInfo>& messages() const override { return infos_; }
  bool seen(std::size_t index) const override { return index < seen_.size() && seen_[index]; }

  std::unique_ptr<MessageReader> open(std::size_t index, std::error_code& ec) override {
    if (index >= ids_.size()) {
      ec = store_errc::message_gone;
      return nullptr;
    }
    // The head and the first chunks in one round trip.
    Params head, chunks;
    head.integer(ids_[index]).integer(id_);
    chunks.integer(ids_[index]).integer(id_).integer(limits::pg_fetch_chunks);
    std::vector<Connection::Queued> q;
    q.push_back({&message_head, nullptr, std::move(head), Format::binary});
    q.push_back({&first_chunks, nullptr, std::move(chunks), Format::binary});
    std::vector<Result> res = lease_->pipeline(q, ec);
    if (ec) return nullptr;
    const Result& r = res[0];
    if (r.rows() != 1) {
      ec = store_errc::message_gone;
      return nullptr;
    }
    std::int64_t body_id = 0, body_size = 0;
    if (!binary_int8(r.value(0, 1), body_id) || !binary_int8(r.value(0, 2), body_size) ||
        body_size < 0 ||
        r.value(0, 0).size() + static_cast<std::uint64_t>(body_size) != infos_[index].size) {
      ec = pg_errc::bad_data;
      return nullptr;
    }
    auto reader = std::make_unique<PgReader>(*lease_, std::string(r.value(0, 0)), body_id,
                                             static_cast<std::uint64_t>(body_size));
    reader->take(std::move(res[1]), ec);
    if (ec) return nullptr;
    return reader;
  }

  std::error_code commit(std::span<const std::size_t> deleted,
                         std::span<const std::size_t> retrieved) override {
    std::vector<std::int64_t> del, seen;
    for (std::size_t i : deleted) {
      if (i < ids_.size()) del.push_back(ids_[i]);
    }
    for (std::size_t i : retrieved) {
      if (i < ids_.size()) seen.push_back(ids_[i]);
    }
    if (del.empty() && seen.empty()) return {};
    // One transaction in one round trip.
    std::vector<Connection::Queued> q;
    q.push_back({nullptr, "BEGIN", {}, Format::text});
    if (!del.empty()) {
      Params p;
      p.integer(id_).int_array(del);
      q.push_back({&delete_messages, nullptr, std::move(p), Format::text});
      q.push_back({&delete_unreferenced, nullptr, {}, Format::text});
    }
    if (!seen.empty()) {
      Params p;
      p.integer(id_).int_array(seen);
      q.push_back({&mark_seen, nullptr, std::move(p), Format::text});
    }
    q.push_back({nullptr, "COMMIT", {}, Format::text});
    std::error_code ec;
    lease_->pipeline(q, ec);
    if (ec) {
      lease_->rollback_if_open();
      return ec;
    }
    // Deletions and counters are one transaction: nothing is left to redo.
    testing::fault_point("commit.applied");
    return ec;
  }

 private:
  /// A big-endian int8 of a binary-format result.
  static bool binary_int8(std::string_view v, std::int64_t& out) {
    if (v.size() != 8) return false;
    std::uint64_t u = 0;
    for (char c : v) u = (u << 8) | static_cast<unsigned char>(c);
    out = static_cast<std::int64_t>(u);
    return true;
  }

  Lease lease_;
  std::int64_t id_;
  std::vector<MessageInfo> infos_;
  std::vector<std::int64_t> ids_;
  std::vector<bool> seen_;
};

/// The id of `user`'s maildrop, created if missing.
std::int64_t mailbox_id(Connection& c, const std::string& user, std::error_code& ec) {
  Result r = c.run(find_mailbox, Params().text(user), ec);
  if (ec) return 0;
  if (r.rows() == 1) return r.integer(0, 0);
  r = c.run(create_mailbox, Params().text(user), ec);
  if (ec) return 0;
  if (r.rows() == 1) return r.integer(0, 0);
  r = c.run(find_mailbox, Params().text(user), ec);  // created by someone else meanwhile
  if (!ec && r.rows() != 1) ec = pg_errc::bad_data;
  return ec ? 0 : r.integer(0, 0);
}

}  // namespace

PgStore::PgStore(std::shared_ptr<Pool> pool) : pool_(std::move(pool)) {
  // Every new connection checks the version, so a node that started while
  // PostgreSQL was down, or that outlives a migration by a newer popbox,
  // refuses to work on a schema it does not know.
  pool_->set_connect_check(
      [](Connection& c, std::string* error) { return check_schema(c, error); });
  std::error_code ec;
  std::string error;
  Lease lease = pool_->acquire(ec, &error);
  // Unreachable now: start anyway, sessions get temporary errors until it is back.
  if (ec == make_error_code(pg_errc::schema_mismatch)) throw std::runtime_error(error);
}

PgStore::PgStore(const std::string& dsn, std::size_t pool_size)
    : PgStore(std::make_shared<Pool>(dsn, pool_size)) {}

std::unique_ptr<Mailbox> PgStore::open(const OpenRequest& req, std::error_code& ec) {
  if (req.user.empty()) {
    ec = store_errc::bad_path;
    return nullptr;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    Lease lease = pool_->acquire(ec);
    if (ec) return nullptr;
    std::vector<Connection::Queued> q;
    q.push_back({&find_and_lock, nullptr, std::move(Params().text(req.user)), Format::text});
    q.push_back({&list_by_user, nullptr, std::move(Params().text(req.user)), Format::text});
    std::vector<Result> res = lease->pipeline(q, ec);
    if (ec == make_error_code(pg_errc::connection_lost) && attempt == 0) {
      lease.discard();  // idle in the pool while the server restarted: once more
      pool_->drop_idle();
      continue;
    }
    if (ec) return nullptr;
    if (res[0].rows() == 1) {
      if (res[0].value(0, 1) != "t") {
        ec = store_errc::in_use;
        return nullptr;
      }
      auto box = std::make_unique<PgMailbox>(std::move(lease), res[0].integer(0, 0));
      if (!box->load(res[1], ec)) return nullptr;
      return box;
    }
    // A first login: create the maildrop, then lock and list it.
    const std::int64_t id = mailbox_id(*lease, req.user, ec);
    if (ec) return nullptr;
    Result r = lease->run(try_lock, Params().integer(id), ec);
    if (ec) return nullptr;
    if (r.value(0, 0) != "t") {
      ec = store_errc::in_use;
      return nullptr;
    }
    auto box = std::make_unique<PgMailbox>(std::move(lease), id);
    if (!box->load(ec)) return nullptr;
    return box;
  }
  return nullptr;
}

std::error_code PgStore::usage(const OpenRequest& req, Usage& out) {
  out = {};
  return pool_->with([&](Connection& c, std::error_code& ec) {
    Result r = c.run(mailbox_usage, Params().text(req.user), ec);
    if (ec || r.rows() == 0) return;
    const std::int64_t messages = r.integer(0, 0), bytes = r.integer(0, 1);
    if (messages < 0 || bytes < 0) {
      ec = pg_errc::bad_data;
      return;
    }
    out.messages = static_cast<std::uint64_t>(messages);
    out.bytes = static_cast<std::uint64_t>(bytes);
  });
}

}  // namespace popbox::store::pg
