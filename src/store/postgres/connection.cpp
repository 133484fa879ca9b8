// libpq connections, results and parameters.
#include "store/postgres/connection.hpp"

#include <charconv>

#include "store/postgres/pg_error.hpp"

namespace popbox::store::pg {

std::int64_t Result::integer(int row, int col) const {
  if (is_null(row, col)) return 0;
  const std::string_view v = value(row, col);
  std::int64_t out = 0;
  std::from_chars(v.data(), v.data() + v.size(), out);
  return out;
}

Params& Params::text(std::string v) {
  owned_.push_back(std::make_unique<std::string>(std::move(v)));
  values_.push_back(owned_.back()->c_str());
  lengths_.push_back(0);
  formats_.push_back(0);
  return *this;
}

Params& Params::binary(std::string_view v) {
  values_.push_back(v.data());
  lengths_.push_back(static_cast<int>(v.size()));
  formats_.push_back(1);
  return *this;
}

Params& Params::int_array(const std::vector<std::int64_t>& v) {
  std::string lit = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i > 0) lit += ',';
    lit += std::to_string(v[i]);
  }
  lit += '}';
  return text(std::move(lit));
}

std::unique_ptr<Connection> Connection::connect(const std::string& dsn, std::error_code& ec,
                                                std::string* error) {
  PGconn* c = PQconnectdb(dsn.c_str());
  if (c == nullptr || PQstatus(c) != CONNECTION_OK) {
    if (error != nullptr) *error = c != nullptr ? PQerrorMessage(c) : "out of memory";
    if (c != nullptr) PQfinish(c);
    ec = pg_errc::connection_lost;
    return nullptr;
  }
  ec.clear();
  auto conn = std::unique_ptr<Connection>(new Connection(c));
  // Notices (e.g. "relation already exists, skipping") are not errors.
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);
  return conn;
}

Connection::~Connection() {
  PQfinish(conn_);
}

Result Connection::check(PGresult* r, std::error_code& ec) {
  const ExecStatusType st = r != nullptr ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    ec.clear();
    return Result(r);
  }
  last_error_ = r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn_);
  while (!last_error_.empty() && last_error_.back() == '\n') last_error_.pop_back();
  ec = classify(conn_, r);
  return Result(r);
}

Result Connection::exec(std::string_view sql, std::error_code& ec) {
  return check(PQexec(conn_, std::string(sql).c_str()), ec);
}

Result Connection::exec(std::string_view sql, const Params& p, std::error_code& ec, Format format) {
  return check(PQexecParams(conn_, std::string(sql).c_str(), p.size(), nullptr, p.values(),
                            p.lengths(), p.formats(), static_cast<int>(format)),
               ec);
}

bool Connection::prepare(const Statement& stmt, std::error_code& ec) {
  ec.clear();
  if (prepared_.find(stmt.name) != prepared_.end()) return true;
  check(PQprepare(conn_, stmt.name, stmt.sql, 0, nullptr), ec);
  if (ec) return false;
  prepared_.emplace(stmt.name);
  return true;
}

Result Connection::run(const Statement& stmt, const Params& p, std::error_code& ec, Format format) {
  if (!prepare(stmt, ec)) return {};
  return check(PQexecPrepared(conn_, stmt.name, p.size(), p.values(), p.lengths(), p.formats(),
                              static_cast<int>(format)),
               ec);
}

std::vector<Result> Connection::pipeline(std::vector<Queued>& queries, std::error_code& ec) {
  std::vector<Result> results(queries.size());
  for (const Queued& q : queries) {
    if (q.stmt != nullptr && !prepare(*q.stmt, ec)) return results;
  }
  if (PQenterPipelineMode(conn_) != 1) {
    ec = classify(conn_, nullptr);
    return results;
  }
  bool sent = true;
  for (const Queued& q : queries) {
    const Params& p = q.params;
    const int fmt = static_cast<int>(q.format);
    const int ok =
        q.stmt != nullptr
            ? PQsendQueryPrepared(conn_, q.stmt->name, p.size(), p.values(), p.lengths(),
                                  p.formats(), fmt)
            : PQsendQueryParams(conn_, q.sql, 0, nullptr, nullptr, nullptr, nullptr, fmt);
    if (ok != 1) {
      sent = false;
      break;
    }
  }
  if (!sent || PQpipelineSync(conn_) != 1) {
    last_error_ = PQerrorMessage(conn_);
    ec = pg_errc::connection_lost;
    return results;  // the connection is in an unknown state: the pool drops it
  }
  ec.clear();
  for (std::size_t i = 0; i < queries.size(); ++i) {
    PGresult* r = PQgetResult(conn_);
    if (r == nullptr) {
      ec = pg_errc::connection_lost;
      return results;
    }
    if (PQresultStatus(r) == PGRES_PIPELINE_ABORTED) {
      PQclear(r);
    } else {
      std::error_code e;
      results[i] = check(r, e);
      if (e && !ec) ec = e;
    }
    PQclear(PQgetResult(conn_));  // the NULL that ends each query's results
  }
  // The sync point's result, then back to normal mode.
  for (PGresult* r; (r = PQgetResult(conn_)) != nullptr;) {
    const bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    PQclear(r);
    if (sync) break;
  }
  if (PQexitPipelineMode(conn_) != 1 && !ec) ec = classify(conn_, nullptr);
  // A backend that was terminated sends its FATAL (57P01) before it closes;
  // libpq may see the close only after that result: it is a lost connection.
  if (ec && broken()) ec = pg_errc::connection_lost;
  return results;
}

void Connection::rollback_if_open() {
  if (broken()) return;
  if (PQtransactionStatus(conn_) != PQTRANS_IDLE) {
    PQclear(PQexec(conn_, "ROLLBACK"));
  }
}

}  // namespace popbox::store::pg
