// Migrated messages into PostgreSQL with the UIDLs clients know, and their
// facts read back out.
#include "store/postgres/import.hpp"

#include <fmt/format.h>

#include <charconv>

#include "core/limits.hpp"
#include "store/postgres/pg_error.hpp"
#include "store/postgres/wire_form.hpp"

namespace popbox::store::pg {
namespace {

constexpr Statement all_maildrops{"popbox_all_maildrops",
                                  "SELECT user_name FROM mailboxes ORDER BY user_name"};
constexpr Statement maildrop_row{"popbox_maildrop_row",
                                 "SELECT id, uidvalidity FROM mailboxes WHERE user_name = $1"};
constexpr Statement new_maildrop{
    "popbox_new_maildrop",
    "INSERT INTO mailboxes (user_name) VALUES ($1) ON CONFLICT (user_name) DO NOTHING"};
// Microseconds both ways: exact integers, no float rounding of the time.
constexpr Statement facts_of{
    "popbox_facts_of",
    "SELECT m.uidl, (extract(epoch FROM m.received_at) * 1000000)::bigint, m.seen "
    "FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.user_name = $1 "
    "ORDER BY m.id"};
constexpr Statement import_body{"popbox_import_body",
                                "INSERT INTO bodies (refs, size) VALUES (1, 0) RETURNING id"};
constexpr Statement import_chunk{"popbox_import_chunk",
                                 "INSERT INTO body_chunks (body_id, seq, data) "
                                 "VALUES ($1, $2, $3)"};
constexpr Statement import_body_size{"popbox_import_body_size",
                                     "UPDATE bodies SET size = $2 WHERE id = $1"};
// A UIDL the maildrop holds already: no row, and the transaction is undone.
constexpr Statement import_message{
    "popbox_import_message",
    "INSERT INTO messages (mailbox_id, uidl, size, received_at, seen, body_id) "
    "VALUES ($1, $2, $3, 'epoch'::timestamptz + $4 * interval '1 microsecond', $5, $6) "
    "ON CONFLICT (mailbox_id, uidl) DO NOTHING RETURNING id"};
constexpr Statement import_count{
    "popbox_import_count",
    "UPDATE mailboxes SET messages = messages + 1, bytes = bytes + $2, "
    "next_uid = GREATEST(next_uid, $3) WHERE id = $1"};

/// The uid after the one `uidl` names if it has the form delivery gives
/// ("%08X%08X" of this maildrop's uidvalidity and a uid), else 0: new mail
/// must never get a UIDL a migrated message already has.
std::int64_t next_uid_after(const std::string& uidl, std::int64_t uidvalidity) {
  if (uidl.size() != 16 || uidl.substr(0, 8) != fmt::format("{:08X}", uidvalidity)) return 0;
  std::uint32_t uid = 0;
  const char* end = uidl.data() + uidl.size();
  auto [p, err] = std::from_chars(uidl.data() + 8, end, uid, 16);
  if (err != std::errc() || p != end) return 0;
  return static_cast<std::int64_t>(uid) + 1;
}

}  // namespace

std::vector<std::string> maildrop_names(Connection& conn, std::error_code& ec) {
  std::vector<std::string> out;
  Result r = conn.run(all_maildrops, Params(), ec);
  if (ec) return out;
  for (int i = 0; i < r.rows(); ++i) out.emplace_back(r.value(i, 0));
  return out;
}

std::optional<std::vector<MessageFacts>> maildrop_facts(Connection& conn, const std::string& user,
                                                        std::error_code& ec) {
  Result box = conn.run(maildrop_row, Params().text(user), ec);
  if (ec || box.rows() != 1) return std::nullopt;
  Result r = conn.run(facts_of, Params().text(user), ec);
  if (ec) return std::nullopt;
  std::vector<MessageFacts> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back({std::string(r.value(i, 0)), r.integer(i, 1), r.value(i, 2) == "t"});
  }
  return out;
}

bool Importer::find_maildrop(std::error_code& ec) {
  if (maildrop_id_ != 0) return true;
  conn_.run(new_maildrop, Params().text(user_), ec);
  if (ec) return false;
  Result r = conn_.run(maildrop_row, Params().text(user_), ec);
  if (ec) return false;
  if (r.rows() != 1) {
    ec = pg_errc::bad_data;
    return false;
  }
  maildrop_id_ = r.integer(0, 0);
  uidvalidity_ = r.integer(0, 1);
  return true;
}

void Importer::store_body(const BodySource& source, std::uint64_t& size, std::error_code& ec) {
  Result r = conn_.run(import_body, Params(), ec);
  if (ec) return;
  body_id_ = r.integer(0, 0);
  std::int64_t seq = 0;
  WireChunker chunker(limits::pg_body_chunk, [&](std::string_view chunk) {
    std::error_code e;
    conn_.run(import_chunk, Params().integer(body_id_).integer(seq++).binary(chunk), e);
    return e;
  });
  std::string block(limits::pg_body_chunk, '\0');
  for (;;) {
    const std::size_t n = source(block, ec);
    if (ec) return;
    if (n == 0) break;
    if ((ec = chunker.write(std::string_view(block.data(), n)))) return;
  }
  if ((ec = chunker.finish())) return;
  size = chunker.size();
  conn_.run(import_body_size,
            Params().integer(body_id_).integer(static_cast<std::int64_t>(chunker.size())), ec);
}

bool Importer::import(const MessageFacts& facts, const BodySource& source, std::uint64_t& size,
                      std::error_code& ec) {
  size = 0;
  if (!find_maildrop(ec)) return false;
  bool stored = false;
  ec = in_transaction(conn_, [&](std::error_code& e) {
    store_body(source, size, e);
    if (e) return;
    const auto octets = static_cast<std::int64_t>(size);
    Result r = conn_.run(import_message,
                         Params()
                             .integer(maildrop_id_)
                             .text(facts.uidl)
                             .integer(octets)
                             .integer(facts.received_us)
                             .text(facts.seen ? "true" : "false")
                             .integer(body_id_),
                         e);
    if (e) return;
    if (r.rows() == 0) {
      e = make_error_code(std::errc::file_exists);  // undoes the body; not an error below
      return;
    }
    conn_.run(import_count,
              Params()
                  .integer(maildrop_id_)
                  .integer(octets)
                  .integer(next_uid_after(facts.uidl, uidvalidity_)),
              e);
    stored = !e;
  });
  if (ec == std::errc::file_exists) ec.clear();
  return stored && !ec;
}

}  // namespace popbox::store::pg
