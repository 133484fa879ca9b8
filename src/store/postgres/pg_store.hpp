#pragma once
// The PostgreSQL backend of the Store seam: maildrops, messages and
// single-instance bodies in one database shared by every node. Each POP3
// session holds one pooled connection for its maildrop lock (a session-
// level advisory lock, released by PostgreSQL when the connection or the
// node dies). Every call blocks: the server makes them on its blocking pool.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "store/mailbox.hpp"
#include "store/postgres/pool.hpp"

namespace popbox::store::pg {

/// One recipient of a delivery: whose maildrop, and the header lines put in
/// front of the shared body for this recipient only (e.g. Delivered-To;
/// any line ends, converted like the body).
struct Recipient {
  std::string user;
  std::string prefix;
};

/// Where a delivery reads the received message from: fills the span, returns
/// 0 at the end, or sets the error.
using BodySource = std::function<std::size_t(std::span<char>, std::error_code&)>;

class PgStore final : public Store {
 public:
  /// Uses `pool`, whose every new connection checks the schema version.
  /// Throws std::runtime_error (naming both versions and `popbox db
  /// migrate`) when the database has another schema. An unreachable
  /// database is no reason to fail: calls fail temporarily until it is back.
  explicit PgStore(std::shared_ptr<Pool> pool);
  /// The same with a pool of its own ([store] dsn and pool_size).
  PgStore(const std::string& dsn, std::size_t pool_size);

  /// Opens (creating it if missing) and locks `req.user`'s maildrop; the
  /// owner is ignored (no files). in_use when a session anywhere holds it;
  /// pg_errc values when the database fails (is_temporary() tells which).
  std::unique_ptr<Mailbox> open(const OpenRequest& req, std::error_code& ec) override;
  using Store::open;

  /// One transaction: the body is stored as it is written, a message per
  /// recipient at commit(). A recipient without a name is refused alone
  /// (bad_path); a database error fails every recipient, nothing stored.
  std::unique_ptr<Delivery> begin_delivery(std::span<const DeliveryTarget> targets) override;

  /// The maildrop's kept counters (messages, prefix + body octets); zero
  /// for a maildrop that does not exist (none is created).
  std::error_code usage(const OpenRequest& req, Usage& out) override;

  /// Stores one received message for every recipient in one transaction:
  /// the body once (in wire form, in chunks), one message per recipient.
  /// Returns the new UIDLs in the order of `recipients`; on error nothing
  /// was stored (a recipient without a name: bad_path). Durable when it returns (the COMMIT was
  /// acknowledged).
  std::vector<std::string> deliver(std::span<const Recipient> recipients, const BodySource& source,
                                   std::error_code& ec);

  /// The pool sessions and deliveries borrow from.
  Pool& pool() { return *pool_; }

 private:
  std::shared_ptr<Pool> pool_;
};

}  // namespace popbox::store::pg
