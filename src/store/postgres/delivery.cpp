// PgStore::deliver: the body once, a message row per recipient, one
// transaction. The conversion to wire form and the cutting into chunks is
// the storage-independent WireChunker; this file only stores what it gives.
#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "core/limits.hpp"
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

/// Stores the body's chunks; returns its id and sets `size`.
std::int64_t store_body(Connection& c, std::size_t refs, const BodySource& source,
                        std::uint64_t& size, std::error_code& ec) {
  Result r = c.run(insert_body, Params().integer(static_cast<std::int64_t>(refs)), ec);
  if (ec) return 0;
  const std::int64_t body_id = r.integer(0, 0);
  std::int64_t seq = 0;
  WireChunker chunker(limits::pg_body_chunk, [&](std::string_view chunk) {
    std::error_code e;
    c.run(insert_chunk, Params().integer(body_id).integer(seq++).binary(chunk), e);
    return e;
  });
  std::string block(limits::pg_body_chunk, '\0');
  for (;;) {
    const std::size_t n = source(block, ec);
    if (ec) return 0;
    if (n == 0) break;
    ec = chunker.write(std::string_view(block.data(), n));
    if (ec) return 0;
  }
  ec = chunker.finish();
  if (ec) return 0;
  size = chunker.size();
  c.run(set_body_size, Params().integer(body_id).integer(static_cast<std::int64_t>(chunker.size())),
        ec);
  return body_id;
}

}  // namespace

std::vector<std::string> PgStore::deliver(std::span<const Recipient> recipients,
                                          const BodySource& source, std::error_code& ec) {
  std::vector<std::string> uidls(recipients.size());
  if (recipients.empty()) {
    ec.clear();
    return uidls;
  }
  // Maildrop rows are locked in name order, so two deliveries to the same
  // recipients never deadlock.
  std::vector<std::size_t> order(recipients.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return recipients[a].user < recipients[b].user;
  });
  Lease lease;
  for (int attempt = 0; attempt < 2; ++attempt) {
    lease = pool_->acquire(ec);
    if (ec) return {};
    lease->exec("BEGIN", ec);
    // Nothing of the source is read yet: a connection that died while idle
    // in the pool may be replaced once.
    if (ec != make_error_code(pg_errc::connection_lost)) break;
    lease.discard();
    pool_->drop_idle();
  }
  if (ec) return {};
  Connection& c = *lease;
  std::uint64_t body_size = 0;
  const std::int64_t body_id = store_body(c, recipients.size(), source, body_size, ec);
  for (std::size_t k = 0; !ec && k < order.size(); ++k) {
    const Recipient& rcpt = recipients[order[k]];
    const std::string prefix = to_wire_form(rcpt.prefix);
    const auto size = static_cast<std::int64_t>(prefix.size() + body_size);
    Result r = c.run(count_in, Params().text(rcpt.user).integer(size), ec);
    if (ec) break;
    std::string uidl = fmt::format("{:08X}{:08X}", r.integer(0, 1), r.integer(0, 2));
    c.run(
        insert_message,
        Params().integer(r.integer(0, 0)).text(uidl).integer(size).integer(body_id).binary(prefix),
        ec);
    uidls[order[k]] = std::move(uidl);
  }
  if (!ec) c.exec("COMMIT", ec);
  if (ec) {
    c.rollback_if_open();
    return {};
  }
  return uidls;
}

}  // namespace popbox::store::pg
