#pragma once
// Errors of the PostgreSQL backend, classified the way callers decide:
// temporary (the server went away, is shutting down, a serialization
// failure or deadlock: try again later) or permanent (a query the server
// refused, a schema of the wrong version).

#include <libpq-fe.h>

#include <string>
#include <system_error>

namespace popbox::store::pg {

/// Errors of the PostgreSQL backend.
enum class pg_errc {
  connection_lost = 1,  ///< no connection, or SQLSTATE class 08: temporary
  shutting_down,        ///< SQLSTATE class 57P (admin shutdown, crash recovery): temporary
  retry,                ///< 40001 serialization failure, 40P01 deadlock: temporary
  pool_exhausted,       ///< every pooled connection stayed busy: temporary
  query_failed,         ///< the server refused a query: permanent
  schema_mismatch,      ///< the database schema is not the one this binary knows: permanent
  bad_data,             ///< a row holds what popbox never writes: permanent
  user_exists,          ///< `user add` of a name that is taken
  no_such_user,         ///< `user passwd/del` of a name that is not there
};

/// The category of pg_errc. Temporary errors are store::failure::temporary
/// (and compare equal to std::errc::resource_unavailable_try_again), the
/// others store::failure::permanent (and std::errc::io_error). A busy
/// maildrop lock is store_errc::in_use, not one of these.
const std::error_category& pg_category() noexcept;
inline std::error_code make_error_code(pg_errc e) noexcept {
  return {static_cast<int>(e), pg_category()};
}

/// True for the errors after which the same work may succeed later.
bool is_temporary(const std::error_code& ec) noexcept;

/// The class of an SQLSTATE (five characters, or empty when libpq gave
/// none): 08xxx -> connection_lost, 57Pxx -> shutting_down, 40001/40P01 ->
/// retry, anything else -> query_failed.
pg_errc classify_sqlstate(const char* sqlstate) noexcept;

/// The error a failed result stands for: connection_lost when the
/// connection is gone (whatever the result says), else by its SQLSTATE.
pg_errc classify(const PGconn* conn, const PGresult* result) noexcept;

}  // namespace popbox::store::pg

template <>
struct std::is_error_code_enum<popbox::store::pg::pg_errc> : std::true_type {};
