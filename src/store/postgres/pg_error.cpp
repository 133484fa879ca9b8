// The error category of the PostgreSQL backend and the SQLSTATE classes.
#include "store/postgres/pg_error.hpp"

#include <cstring>

#include "store/failure.hpp"

namespace popbox::store::pg {
namespace {

class PgCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "popbox.postgres"; }

  std::string message(int value) const override {
    switch (static_cast<pg_errc>(value)) {
      case pg_errc::connection_lost:
        return "connection to PostgreSQL lost";
      case pg_errc::shutting_down:
        return "PostgreSQL is shutting down or recovering";
      case pg_errc::retry:
        return "PostgreSQL transaction conflict, try again";
      case pg_errc::pool_exhausted:
        return "no free PostgreSQL connection in the pool";
      case pg_errc::query_failed:
        return "PostgreSQL refused a query";
      case pg_errc::schema_mismatch:
        return "database schema version mismatch";
      case pg_errc::bad_data:
        return "unexpected data in the database";
      case pg_errc::user_exists:
        return "user already exists";
      case pg_errc::no_such_user:
        return "no such user";
    }
    return "unknown PostgreSQL error";
  }

  // The store's failure class, which POP3 and LMTP map to replies.
  std::error_condition default_error_condition(int value) const noexcept override {
    if (is_temporary({value, *this})) return failure::temporary;
    return failure::permanent;
  }

  // Also the generic conditions, for callers that do not know the store.
  bool equivalent(int value, const std::error_condition& cond) const noexcept override {
    if (cond == default_error_condition(value)) return true;
    if (is_temporary({value, *this})) return cond == std::errc::resource_unavailable_try_again;
    return cond == std::errc::io_error;
  }
};

}  // namespace

const std::error_category& pg_category() noexcept {
  static const PgCategory category;
  return category;
}

bool is_temporary(const std::error_code& ec) noexcept {
  if (ec.category() != pg_category()) return false;
  switch (static_cast<pg_errc>(ec.value())) {
    case pg_errc::connection_lost:
    case pg_errc::shutting_down:
    case pg_errc::retry:
    case pg_errc::pool_exhausted:
      return true;
    default:
      return false;
  }
}

pg_errc classify_sqlstate(const char* sqlstate) noexcept {
  if (sqlstate == nullptr || std::strlen(sqlstate) != 5) return pg_errc::query_failed;
  if (std::strncmp(sqlstate, "08", 2) == 0) return pg_errc::connection_lost;
  if (std::strncmp(sqlstate, "57P", 3) == 0) return pg_errc::shutting_down;
  if (std::strcmp(sqlstate, "40001") == 0 || std::strcmp(sqlstate, "40P01") == 0) {
    return pg_errc::retry;
  }
  return pg_errc::query_failed;
}

pg_errc classify(const PGconn* conn, const PGresult* result) noexcept {
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) return pg_errc::connection_lost;
  if (result == nullptr) return pg_errc::connection_lost;
  // A result libpq made up itself (the socket broke mid-query) has no SQLSTATE.
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  if (state == nullptr) return pg_errc::connection_lost;
  return classify_sqlstate(state);
}

}  // namespace popbox::store::pg
