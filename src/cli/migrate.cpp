// popbox migrate maildir-to-postgres | postgres-to-maildir: a node's mail
// moved between its Maildirs ([mail] maildir) and its database ([store]
// dsn), whatever [store] backend says, with the UIDLs, octets, seen flags
// and received times clients rely on. The source is never changed; the
// operator switches the backend afterwards. One report line per user.
#include <fmt/format.h>
#include <sysexits.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "auth/passwd_file.hpp"
#include "cli/db_connect.hpp"
#include "cli/verbs.hpp"
#include "config/config.hpp"
#include "core/privileges.hpp"
#include "store/maildir_store.hpp"
#include "store/maildrop_lock.hpp"
#include "store/migrate/migrate.hpp"
#include "store/owned_mailbox.hpp"
#include "store/postgres/import.hpp"
#include "store/postgres/pg_error.hpp"
#include "store/postgres/schema.hpp"
#include "store/postgres/users.hpp"

namespace popbox::cli {
namespace {

enum class Direction { to_postgres, to_maildir };

struct MigrateOptions {
  std::string config, user;
  bool all = false;
  bool dry_run = false;
};

using store::migrate::UserReport;
using Outcome = UserReport::Outcome;

struct Totals {
  std::size_t users = 0, copied = 0, skipped = 0, failed = 0, in_use = 0, users_failed = 0;
  std::uint64_t bytes = 0;
  bool temporary_only = true;  ///< every failure may pass by itself
};

std::string megabytes(std::uint64_t bytes) {
  return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
}

std::string counts(const UserReport& r, bool dry_run) {
  if (dry_run) {
    return fmt::format("{} messages ({}) would be copied, {} skipped (already there)", r.copied,
                       megabytes(r.bytes), r.skipped);
  }
  return fmt::format("{} messages ({}) copied, {} skipped, {} failed", r.copied, megabytes(r.bytes),
                     r.skipped, r.failed);
}

void print_user(const std::string& user, const UserReport& r, Direction d, bool dry_run) {
  std::cout << "user " << user << ": ";
  switch (r.outcome) {
    case Outcome::done:
      std::cout << counts(r, dry_run);
      if (r.failed) std::cout << " (first error: " << r.error << ")";
      break;
    case Outcome::in_use:
      std::cout << "in use, skipped (" << r.error << "; run again when it is free)";
      break;
    case Outcome::no_source:
      std::cout << "nothing to copy ("
                << (d == Direction::to_postgres ? "no Maildir at " + r.where
                                                : std::string("no maildrop in the database"))
                << ")";
      break;
    case Outcome::failed:
      std::cout << "FAILED (" << r.error << "), " << counts(r, dry_run);
      break;
  }
  std::cout << "\n";
}

void add(Totals& t, const UserReport& r) {
  ++t.users;
  t.copied += r.copied;
  t.bytes += r.bytes;
  t.skipped += r.skipped;
  t.failed += r.failed;
  if (r.outcome == Outcome::in_use) ++t.in_use;
  if (r.outcome == Outcome::failed) ++t.users_failed;
  if ((r.outcome == Outcome::failed && !r.temporary) || r.failed) t.temporary_only = false;
}

/// Every name once, in the order first seen.
void add_names(std::vector<std::string>& names, std::set<std::string>& seen,
               const std::vector<std::string>& more) {
  for (const auto& n : more) {
    if (seen.insert(n).second) names.push_back(n);
  }
}

/// Throws DbFailure with what an operator does about a database error.
void check_db(const std::error_code& ec, const store::pg::Connection& conn) {
  if (!ec) return;
  throw DbFailure(store::pg::is_temporary(ec) ? EX_TEMPFAIL : EX_DATAERR,
                  "reading the database: " + conn.last_error());
}

/// The users a run covers: --user, or for maildir-to-postgres every user of
/// the passwd-file (and of the users table with [auth] source = "postgres"),
/// for postgres-to-maildir every maildrop in the database.
std::vector<std::string> users_of(const MigrateOptions& o, Direction d, const config::Config& cfg,
                                  const auth::PasswdFile& passwd, store::pg::Connection& conn) {
  if (!o.all) return {o.user};
  std::vector<std::string> names;
  std::set<std::string> seen;
  std::error_code ec;
  if (d == Direction::to_maildir) {
    add_names(names, seen, store::pg::maildrop_names(conn, ec));
    check_db(ec, conn);
    return names;
  }
  std::vector<std::string> from_file;
  for (const auto& e : passwd.entries()) from_file.push_back(e.user);
  add_names(names, seen, from_file);
  if (cfg.auth.source == config::UserSource::postgres) {
    add_names(names, seen, auth::list_db_users(conn, ec));
    check_db(ec, conn);
  }
  return names;
}

int run_migrate(const MigrateOptions& o, Direction d) {
  if (o.user.empty() == !o.all) throw DbFailure(EX_USAGE, "give --user USER or --all");
  config::Config cfg;
  std::unique_ptr<store::MaildirStore> maildirs;
  auth::PasswdFile passwd;
  std::optional<store::Owner> server_owner;
  try {
    cfg = config::load(o.config);
    if (cfg.mail.maildir.empty()) {
      throw std::runtime_error(o.config + ": [mail] maildir is not set (where the Maildirs are)");
    }
    maildirs = std::make_unique<store::MaildirStore>(cfg.mail.maildir, cfg.mail.uidl_format,
                                                     cfg.mail.uidl_adopt_x_uidl);
    if (!cfg.auth.passwd_file.empty()) passwd = auth::PasswdFile::load(cfg.auth.passwd_file);
    // Files are written as the server would write them; the lock scheme is
    // the server's, so a running server and this exclude each other.
    if (core::running_as_root() && !cfg.server.user.empty()) {
      auto who = core::resolve_run_as(cfg.server.user, cfg.server.group);
      server_owner = store::Owner{who.uid, who.gid};
    }
    store::configure_maildrop_locks(cfg.mail.lock_file, server_owner);
  } catch (const std::exception& e) {
    throw DbFailure(EX_CONFIG, e.what());
  }
  auto conn = connect_from_config(o.config);
  std::string message;
  if (store::pg::check_schema(*conn, &message)) throw DbFailure(EX_CONFIG, message);
  store::pg::PgStore postgres(cfg.store.dsn, 2);
  const store::migrate::Stores stores{*maildirs, postgres, *conn, o.dry_run};

  Totals totals;
  for (const std::string& user : users_of(o, d, cfg, passwd, *conn)) {
    std::error_code ec;
    std::optional<store::Owner> owner = server_owner;
    if (const auto* entry = passwd.find(user)) {
      auto own = store::entry_owner(entry->uid, entry->gid, cfg.auth.first_valid_uid, ec);
      if (own) owner = own;
    }
    UserReport r;
    if (ec) {
      r.outcome = Outcome::failed;
      r.error = "the passwd-file entry's uid/gid are refused: " + ec.message();
    } else if (d == Direction::to_postgres) {
      r = store::migrate::maildir_to_postgres(stores, user, owner);
    } else {
      r = store::migrate::postgres_to_maildir(stores, user, owner);
    }
    print_user(user, r, d, o.dry_run);
    add(totals, r);
  }
  std::cout << "total: " << totals.users << " users, "
            << fmt::format(
                   "{} messages ({}) {}, {} skipped, {} failed, {} users in use, {} users failed",
                   totals.copied, megabytes(totals.bytes), o.dry_run ? "would be copied" : "copied",
                   totals.skipped, totals.failed, totals.in_use, totals.users_failed)
            << (o.dry_run ? "; dry run, nothing written" : "; the source is unchanged") << "\n";
  if (totals.users_failed == 0 && totals.in_use == 0 && totals.failed == 0) return 0;
  return totals.temporary_only ? EX_TEMPFAIL : EX_IOERR;
}

void add_direction(CLI::App* parent, const char* name, const char* what, Direction d, int& rc) {
  auto* cmd = parent->add_subcommand(name, what);
  auto o = std::make_shared<MigrateOptions>();
  cmd->add_option("-c,--config", o->config, "The node's configuration file (TOML)")->required();
  auto* user = cmd->add_option("--user", o->user, "Only this user");
  cmd->add_flag("--all", o->all, "Every user (see popbox(1))")->excludes(user);
  cmd->add_flag("--dry-run", o->dry_run, "Count what would be copied; write nothing");
  cmd->callback([o, d, name, &rc] {
    try {
      rc = run_migrate(*o, d);
    } catch (const DbFailure& f) {
      std::cerr << "popbox migrate " << name << ": " << f.what() << "\n";
      rc = f.code;
    } catch (const std::exception& e) {
      std::cerr << "popbox migrate " << name << ": " << e.what() << "\n";
      rc = EX_SOFTWARE;
    }
  });
}

}  // namespace

void add_migrate(CLI::App& app, int& rc) {
  auto* cmd = app.add_subcommand(
      "migrate", "Copy mail between the Maildirs and PostgreSQL, keeping every UIDL");
  cmd->require_subcommand(1);
  add_direction(cmd, "maildir-to-postgres", "Copy the Maildirs into [store] dsn",
                Direction::to_postgres, rc);
  add_direction(cmd, "postgres-to-maildir", "Copy the database's maildrops into the Maildirs",
                Direction::to_maildir, rc);
}

}  // namespace popbox::cli
