// Schema versions and migrations.
#include "store/postgres/schema.hpp"

#include <fmt/format.h>

#include "store/postgres/pg_error.hpp"

namespace popbox::store::pg {
namespace {

/// Key of the transaction-level advisory lock migrations take (the two-int
/// form, apart from the bigint keys of maildrop locks).
constexpr int migrate_lock_class = 0x706f70;  // "pop"
constexpr int migrate_lock_id = 1;

}  // namespace

int expected_version() {
  return migrations().empty() ? 0 : migrations().back().version;
}

int current_version(Connection& conn, std::error_code& ec) {
  Result r = conn.exec("SELECT to_regclass('schema_version') IS NOT NULL", ec);
  if (ec || r.value(0, 0) != "t") return 0;
  r = conn.exec("SELECT coalesce(max(version), 0) FROM schema_version", ec);
  return ec ? 0 : static_cast<int>(r.integer(0, 0));
}

MigrateReport migrate(Connection& conn, bool dry_run, std::error_code& ec, std::string* message) {
  MigrateReport report;
  report.to = expected_version();
  ec = in_transaction(conn, [&](std::error_code& e) {
    conn.exec(
        fmt::format("SELECT pg_advisory_xact_lock({}, {})", migrate_lock_class, migrate_lock_id),
        e);
    if (e) return;
    report.from = current_version(conn, e);
    if (e) return;
    if (report.from > report.to) {
      if (message != nullptr) {
        *message = fmt::format(
            "the database schema is version {}, newer than this popbox's version {}: "
            "upgrade popbox",
            report.from, report.to);
      }
      e = pg_errc::schema_mismatch;
      return;
    }
    for (const Migration& m : migrations()) {
      if (m.version <= report.from) continue;
      report.applied.push_back(m);
      if (dry_run) continue;
      conn.exec(m.sql, e);
      if (e) {
        if (message != nullptr) {
          *message = fmt::format("migration {:04}_{}: {}", m.version, m.name, conn.last_error());
        }
        return;
      }
      Params p;
      p.integer(m.version).text(std::string(m.name));
      conn.exec("INSERT INTO schema_version (version, name) VALUES ($1, $2)", p, e);
      if (e) return;
    }
  });
  if (ec && message != nullptr && message->empty()) *message = conn.last_error();
  return report;
}

std::error_code check_schema(Connection& conn, std::string* message) {
  std::error_code ec;
  const int have = current_version(conn, ec);
  if (ec) {
    if (message != nullptr) *message = conn.last_error();
    return ec;
  }
  const int want = expected_version();
  if (have == want) return {};
  if (message != nullptr) {
    *message = fmt::format(
        "the database schema is version {}, this popbox needs version {}: {}", have, want,
        have < want ? "run `popbox db migrate`" : "upgrade popbox (the database is newer)");
  }
  return pg_errc::schema_mismatch;
}

}  // namespace popbox::store::pg
