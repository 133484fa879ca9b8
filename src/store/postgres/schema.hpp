#pragma once
// The database schema, versioned in the repository: src/store/postgres/
// schema/NNNN_name.sql, embedded into the binary at build time. `popbox db
// migrate` applies the pending ones; a node refuses any other version.

#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "store/postgres/connection.hpp"

namespace popbox::store::pg {

/// One schema step: schema/NNNN_name.sql.
struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

/// Every migration of this binary, in version order 1, 2, ... (generated).
std::span<const Migration> migrations();

/// The schema version this binary runs against (the last migration's).
int expected_version();

/// The database's schema version: 0 when no migration was ever applied.
int current_version(Connection& conn, std::error_code& ec);

/// What migrate() did or (dry run) would do.
struct MigrateReport {
  int from = 0;
  int to = 0;
  std::vector<Migration> applied;  ///< pending ones, in order
};

/// Applies every pending migration in one transaction under an advisory
/// lock (two nodes migrating at once: the second waits, then finds nothing
/// to do). With `dry_run` nothing changes. A database newer than this
/// binary is refused with schema_mismatch (`message` says why).
MigrateReport migrate(Connection& conn, bool dry_run, std::error_code& ec,
                      std::string* message = nullptr);

/// OK only when the database holds exactly expected_version(); otherwise
/// schema_mismatch and a message naming both versions and `popbox db migrate`.
std::error_code check_schema(Connection& conn, std::string* message);

}  // namespace popbox::store::pg
