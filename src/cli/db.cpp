// popbox db: the PostgreSQL schema. `migrate` applies the migrations this
// binary carries (one transaction, under an advisory lock); `status` says
// whether a node of this version would start on the database.
#include <sysexits.h>

#include <CLI/CLI.hpp>
#include <iomanip>
#include <iostream>
#include <memory>
#include <string>

#include "cli/db_connect.hpp"
#include "cli/verbs.hpp"
#include "config/config.hpp"
#include "store/postgres/pg_error.hpp"
#include "store/postgres/schema.hpp"

namespace popbox::cli {

std::unique_ptr<store::pg::Connection> connect_from_config(const std::string& config_file) {
  config::Config cfg;
  try {
    cfg = config::load(config_file);
  } catch (const std::exception& e) {
    throw DbFailure(EX_CONFIG, e.what());
  }
  if (cfg.store.dsn.empty()) {
    throw DbFailure(EX_CONFIG,
                    config_file + ": [store] dsn is not set (a libpq connection string)");
  }
  std::error_code ec;
  std::string error;
  auto conn = store::pg::Connection::connect(cfg.store.dsn, ec, &error);
  if (!conn) {
    while (!error.empty() && error.back() == '\n') error.pop_back();
    throw DbFailure(EX_TEMPFAIL, "cannot connect to PostgreSQL ([store] dsn): " + error);
  }
  return conn;
}

namespace {

struct DbOptions {
  std::string config;
  bool dry_run = false;
};

/// The exit code for a database error: temporary ones may pass by themselves.
int db_exit(const std::error_code& ec) {
  return store::pg::is_temporary(ec) ? EX_TEMPFAIL : EX_DATAERR;
}

int run_migrate(const DbOptions& o) {
  auto conn = connect_from_config(o.config);
  std::error_code ec;
  std::string message;
  const store::pg::MigrateReport r = store::pg::migrate(*conn, o.dry_run, ec, &message);
  if (ec) {
    std::cerr << "popbox db migrate: " << (message.empty() ? ec.message() : message) << "\n";
    return db_exit(ec);
  }
  for (const store::pg::Migration& m : r.applied) {
    std::cout << (o.dry_run ? "would apply " : "applied ") << std::setw(4) << std::setfill('0')
              << m.version << "_" << m.name << "\n";
  }
  if (r.applied.empty()) {
    std::cout << "schema version " << r.to << ": up to date\n";
  } else {
    std::cout << "schema version " << r.from << " -> " << r.to << (o.dry_run ? " (dry run)" : "")
              << "\n";
  }
  return 0;
}

int run_status(const DbOptions& o) {
  auto conn = connect_from_config(o.config);
  std::error_code ec;
  const int have = store::pg::current_version(*conn, ec);
  if (ec) {
    std::cerr << "popbox db status: " << conn->last_error() << "\n";
    return db_exit(ec);
  }
  const int want = store::pg::expected_version();
  std::cout << "database schema version: " << have << "\n"
            << "this popbox needs:       " << want << "\n";
  if (have == want) {
    std::cout << "status: up to date\n";
    return 0;
  }
  std::cout << "status: "
            << (have < want ? "migrations pending: run `popbox db migrate`"
                            : "the database is newer than this popbox: upgrade popbox")
            << "\n";
  return EX_DATAERR;
}

int run(int (*verb)(const DbOptions&), const DbOptions& o, const char* name) {
  try {
    return verb(o);
  } catch (const DbFailure& f) {
    std::cerr << "popbox db " << name << ": " << f.what() << "\n";
    return f.code;
  } catch (const std::exception& e) {
    std::cerr << "popbox db " << name << ": " << e.what() << "\n";
    return EX_SOFTWARE;
  }
}

}  // namespace

void add_db(CLI::App& app, int& rc) {
  auto* cmd = app.add_subcommand("db", "Manage the PostgreSQL schema of [store] dsn");
  cmd->require_subcommand(1);
  auto o = std::make_shared<DbOptions>();
  cmd->add_option("-c,--config", o->config, "Configuration file (TOML)")->required();
  cmd->fallthrough();
  auto* migrate = cmd->add_subcommand("migrate", "Apply the pending schema migrations");
  migrate->add_flag("--dry-run", o->dry_run, "List the pending migrations, change nothing");
  migrate->callback([o, &rc] { rc = run(run_migrate, *o, "migrate"); });
  auto* status = cmd->add_subcommand("status", "Compare the database's schema with this popbox's");
  status->callback([o, &rc] { rc = run(run_status, *o, "status"); });
}

}  // namespace popbox::cli
