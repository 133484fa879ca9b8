#pragma once
// One libpq connection (RAII), its results and prepared statements. Every
// call blocks on the network: run them on the blocking pool, never on an
// event thread.

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace popbox::store::pg {

/// A query result, freed with the object.
class Result {
 public:
  Result() = default;
  explicit Result(PGresult* r) : r_(r, &PQclear) {}
  /// Rows in the result (0 for commands).
  int rows() const { return r_ ? PQntuples(r_.get()) : 0; }
  /// The bytes of one field (text or binary, as the query asked).
  std::string_view value(int row, int col) const {
    return {PQgetvalue(r_.get(), row, col),
            static_cast<std::size_t>(PQgetlength(r_.get(), row, col))};
  }
  bool is_null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  /// A text-format integer field; 0 for NULL.
  std::int64_t integer(int row, int col) const;
  PGresult* get() const { return r_.get(); }

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> r_{nullptr, &PQclear};
};

/// Query parameters: text values, or binary ones (bytea).
class Params {
 public:
  Params& text(std::string v);
  Params& integer(std::int64_t v) { return text(std::to_string(v)); }
  /// A bytea value; `v` must outlive the query.
  Params& binary(std::string_view v);
  /// A bigint[] literal.
  Params& int_array(const std::vector<std::int64_t>& v);
  int size() const { return static_cast<int>(values_.size()); }
  const char* const* values() const { return values_.data(); }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  std::vector<std::unique_ptr<std::string>> owned_;
  std::vector<const char*> values_;
  std::vector<int> lengths_, formats_;
};

/// A statement prepared once per connection, on first use.
struct Statement {
  const char* name;
  const char* sql;
};

/// How a result's fields come back.
enum class Format { text = 0, binary = 1 };

/// One connection to PostgreSQL.
class Connection {
 public:
  /// Connects to `dsn` (URI or key=value); nullptr and ec on failure, with
  /// the server's words in `error`.
  static std::unique_ptr<Connection> connect(const std::string& dsn, std::error_code& ec,
                                             std::string* error = nullptr);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Runs `sql` (no parameters, may hold several statements). Sets ec (see
  /// pg_error.hpp) unless the server answered with success.
  Result exec(std::string_view sql, std::error_code& ec);
  /// Runs `sql` with `params` ($1, $2, ...).
  Result exec(std::string_view sql, const Params& params, std::error_code& ec,
              Format format = Format::text);
  /// Runs a prepared statement, preparing it first on this connection.
  Result run(const Statement& stmt, const Params& params, std::error_code& ec,
             Format format = Format::text);
  /// One query of a pipeline.
  struct Queued {
    const Statement* stmt;  ///< nullptr: `sql` below, without parameters
    const char* sql;
    Params params;
    Format format = Format::text;
  };
  /// Sends every query at once in pipeline mode and reads the results: one
  /// round trip instead of one per query. The first failure sets ec; the
  /// queries after it are not run (their results are empty).
  std::vector<Result> pipeline(std::vector<Queued>& queries, std::error_code& ec);
  /// Sends ROLLBACK if a transaction is open (after an error), ignoring errors.
  void rollback_if_open();
  /// True once the connection is unusable; a pool drops it.
  bool broken() const { return PQstatus(conn_) != CONNECTION_OK; }
  /// The last error message of the server or of libpq (for logs).
  const std::string& last_error() const { return last_error_; }
  /// The backend's process id (pg_terminate_backend takes it).
  int backend_pid() const { return PQbackendPID(conn_); }
  PGconn* raw() const { return conn_; }

 private:
  explicit Connection(PGconn* c) : conn_(c) {}
  Result check(PGresult* r, std::error_code& ec);
  bool prepare(const Statement& stmt, std::error_code& ec);

  PGconn* conn_;
  std::set<std::string, std::less<>> prepared_;
  std::string last_error_;
};

/// Runs BEGIN; the caller's body; COMMIT (or ROLLBACK when the body set
/// ec). Returns the first error.
template <typename Body>
std::error_code in_transaction(Connection& conn, Body&& body) {
  std::error_code ec;
  conn.exec("BEGIN", ec);
  if (ec) return ec;
  body(ec);
  if (!ec) conn.exec("COMMIT", ec);
  if (ec) conn.rollback_if_open();
  return ec;
}

}  // namespace popbox::store::pg
