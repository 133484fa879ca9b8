#pragma once
// `popbox migrate`'s PostgreSQL side: messages stored with the UIDL, the
// received time and the seen flag they had elsewhere (a Maildir), and the
// same facts read back for the way out. Normal delivery (delivery.cpp)
// hands out UIDLs of its own; only a migration gives them. Every call
// blocks on the database.

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "store/postgres/connection.hpp"
#include "store/postgres/pg_store.hpp"

namespace popbox::store::pg {

/// What a migration keeps of a message besides its bytes.
struct MessageFacts {
  std::string uidl;              ///< 1-70 octets of 0x21-0x7E, unique in the maildrop
  std::int64_t received_us = 0;  ///< microseconds since the epoch
  bool seen = false;
};

/// Every maildrop name in the database, sorted.
std::vector<std::string> maildrop_names(Connection& conn, std::error_code& ec);

/// The facts of `user`'s messages in session order (their bytes are read
/// through PgStore), without creating or locking anything; nullopt when
/// the maildrop does not exist (ec clear) or on error (ec set).
std::optional<std::vector<MessageFacts>> maildrop_facts(Connection& conn, const std::string& user,
                                                        std::error_code& ec);

/// Stores migrated messages in one maildrop, each in a transaction of its
/// own: after a crash every message is there whole or not at all. Call it
/// while holding the maildrop's lock (PgStore::open), so no session sees
/// the maildrop half-filled.
class Importer {
 public:
  Importer(Connection& conn, std::string user) : conn_(conn), user_(std::move(user)) {}

  /// Stores the bytes `source` yields (any line ends: kept in wire form,
  /// as delivery keeps them) under `facts`, counted in the maildrop's
  /// usage. False with ec clear when the maildrop holds that UIDL already
  /// (nothing stored: a re-run skips what an earlier run copied). `size`
  /// gets the stored octets (what RETR sends).
  bool import(const MessageFacts& facts, const BodySource& source, std::uint64_t& size,
              std::error_code& ec);

 private:
  bool find_maildrop(std::error_code& ec);
  void store_body(const BodySource& source, std::uint64_t& size, std::error_code& ec);

  Connection& conn_;
  std::string user_;
  std::int64_t maildrop_id_ = 0;  ///< 0 until the first import finds or creates it
  std::int64_t uidvalidity_ = 0;
  std::int64_t body_id_ = 0;
};

}  // namespace popbox::store::pg
