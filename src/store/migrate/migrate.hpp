#pragma once
// `popbox migrate`: one user's mail copied between the Maildir store and
// the PostgreSQL store with everything a POP3 client relies on kept: the
// UIDL it saw (as the source store computes it: popbox-uidls, Dovecot and
// Courier adoption, X-UIDL per config), the octets RETR sends, the seen
// flag and the received time. The source is read only, under its maildrop
// lock; the target is written under its lock, one message at a time, and a
// message whose UIDL the target holds already is skipped, so a run that was
// killed is completed by running it again, without duplicates.

#include <cstdint>
#include <optional>
#include <string>

#include "store/mailbox.hpp"
#include "store/maildir_store.hpp"
#include "store/postgres/connection.hpp"
#include "store/postgres/pg_store.hpp"

namespace popbox::store::migrate {

/// The stores a run works between.
struct Stores {
  const MaildirStore& maildirs;  ///< [mail] maildir, uidl_format, uidl_adopt_x_uidl
  pg::PgStore& postgres;         ///< the maildrop locks and message bytes
  pg::Connection& conn;          ///< imports (a transaction per message) and facts
  bool dry_run = false;          ///< count only, write nothing
};

/// What happened to one user.
struct UserReport {
  enum class Outcome {
    done,       ///< everything copied or already there (failed may still count messages)
    in_use,     ///< a POP3 session holds the source or the target: nothing done
    no_source,  ///< no Maildir / no maildrop in the database: nothing to copy
    failed,     ///< stopped: `error` says why (the messages counted so far stay copied)
  };
  Outcome outcome = Outcome::done;
  std::size_t copied = 0;   ///< messages copied (dry run: that would be)
  std::uint64_t bytes = 0;  ///< their octets as RETR sends them
  std::size_t skipped = 0;  ///< already in the target (same UIDL)
  std::size_t failed = 0;   ///< messages that could not be copied
  bool temporary = false;   ///< the failure may pass (database down, in use)
  std::string error;        ///< the first error, for the operator
  std::string where;        ///< the Maildir path, when there is one
};

/// Copies `user`'s Maildir into the PostgreSQL maildrop of that name.
/// `owner`: the ids the Maildir is read as (nullopt: this process's).
UserReport maildir_to_postgres(const Stores& stores, const std::string& user,
                               const std::optional<Owner>& owner);

/// Copies `user`'s PostgreSQL maildrop into the Maildir of that name,
/// written as `owner`.
UserReport postgres_to_maildir(const Stores& stores, const std::string& user,
                               const std::optional<Owner>& owner);

}  // namespace popbox::store::migrate
