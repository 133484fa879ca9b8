// The SQLite UIDL state.
#include "client/state_db.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include "client/error.hpp"

namespace popbox::client {
namespace {

constexpr const char* schema = R"sql(
CREATE TABLE IF NOT EXISTS uidl(
  uidl TEXT PRIMARY KEY NOT NULL,
  downloaded_at INTEGER NOT NULL,
  pending_delete INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS intent(
  uidl TEXT PRIMARY KEY NOT NULL,
  target TEXT NOT NULL,
  token TEXT NOT NULL,
  started_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS run_status(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  last_success INTEGER NOT NULL DEFAULT 0,
  messages INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0,
  last_error_at INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  failures INTEGER NOT NULL DEFAULT 0,
  next_run INTEGER NOT NULL DEFAULT 0
);
)sql";
// run_status came with `popbox fetch --daemon`; CREATE TABLE IF NOT EXISTS
// adds it to older databases on open (the other tables are unchanged).

void bind_text(sqlite3_stmt* st, int i, const std::string& s) {
  sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
}

std::string column_text(sqlite3_stmt* st, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st, i))) : std::string();
}

// Runs a prepared statement to completion and resets it.
bool step_done(sqlite3_stmt* st) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc == SQLITE_DONE;
}

}  // namespace

std::unique_ptr<StateDb> StateDb::open(const std::string& path, std::string& error) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<StateDb> db(new StateDb(raw));
  if (rc != SQLITE_OK) {
    error = path + ": " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
    return nullptr;
  }
  sqlite3_busy_timeout(raw, 10000);
  // WAL: a crash at any point leaves the last committed state; FULL: a
  // commit is on disk when it returns.
  sqlite3_stmt* st = nullptr;
  bool wal = false;
  if (sqlite3_prepare_v2(raw, "PRAGMA journal_mode=WAL", -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    wal = column_text(st, 0) == "wal";
  }
  sqlite3_finalize(st);
  if (!wal || db->exec("PRAGMA synchronous=FULL") || db->exec(schema)) {
    error = path + ": " + (wal ? db->error_ : std::string("cannot switch to WAL mode"));
    return nullptr;
  }
  return db;
}

StateDb::~StateDb() {
  for (sqlite3_stmt* st : {insert_, drop_intent_, set_pending_, forget_, set_intent_}) {
    sqlite3_finalize(st);
  }
  sqlite3_close(db_);
}

std::error_code StateDb::failed() {
  error_ = sqlite3_errmsg(db_);
  sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  return make_error_code(fetch_errc::state);
}

std::error_code StateDb::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    error_ = msg ? msg : sqlite3_errmsg(db_);
    sqlite3_free(msg);
    return make_error_code(fetch_errc::state);
  }
  return {};
}

sqlite3_stmt* StateDb::prepare(sqlite3_stmt*& cache, const char* sql) {
  if (!cache) sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &cache, nullptr);
  return cache;
}

std::error_code StateDb::load(StateMap& out) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT uidl, downloaded_at, pending_delete FROM uidl", -1, &st,
                         nullptr) != SQLITE_OK) {
    return failed();
  }
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    out[column_text(st, 0)] = {sqlite3_column_int64(st, 1), sqlite3_column_int(st, 2) != 0};
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? std::error_code() : failed();
}

std::error_code StateDb::record(const std::string& uidl, std::int64_t at, bool pending_delete) {
  auto* ins = prepare(insert_,
                      "INSERT OR REPLACE INTO uidl(uidl, downloaded_at, pending_delete) "
                      "VALUES(?1, ?2, ?3)");
  auto* drop = prepare(drop_intent_, "DELETE FROM intent WHERE uidl = ?1");
  if (!ins || !drop || exec("BEGIN IMMEDIATE")) return failed();
  bind_text(ins, 1, uidl);
  sqlite3_bind_int64(ins, 2, at);
  sqlite3_bind_int(ins, 3, pending_delete ? 1 : 0);
  bind_text(drop, 1, uidl);
  if (!step_done(ins) || !step_done(drop) || exec("COMMIT")) return failed();
  return {};
}

std::error_code StateDb::record_batch(const std::vector<std::pair<std::string, StateRow>>& rows,
                                      const std::vector<Intent>& next_intents) {
  auto* ins = prepare(insert_,
                      "INSERT OR REPLACE INTO uidl(uidl, downloaded_at, pending_delete) "
                      "VALUES(?1, ?2, ?3)");
  auto* drop = prepare(drop_intent_, "DELETE FROM intent WHERE uidl = ?1");
  auto* add = prepare(set_intent_,
                      "INSERT OR REPLACE INTO intent(uidl, target, token, started_at) "
                      "VALUES(?1, ?2, ?3, ?4)");
  if (!ins || !drop || !add || exec("BEGIN IMMEDIATE")) return failed();
  for (const auto& [uidl, row] : rows) {
    bind_text(ins, 1, uidl);
    sqlite3_bind_int64(ins, 2, row.downloaded_at);
    sqlite3_bind_int(ins, 3, row.pending_delete ? 1 : 0);
    bind_text(drop, 1, uidl);
    if (!step_done(ins) || !step_done(drop)) return failed();
  }
  for (const Intent& i : next_intents) {
    bind_text(add, 1, i.uidl);
    bind_text(add, 2, i.target);
    bind_text(add, 3, i.token);
    sqlite3_bind_int64(add, 4, i.started_at);
    if (!step_done(add)) return failed();
  }
  return exec("COMMIT") ? failed() : std::error_code();
}

std::error_code StateDb::mark_pending(const std::vector<std::string>& uidls) {
  if (uidls.empty()) return {};
  auto* st = prepare(set_pending_, "UPDATE uidl SET pending_delete = 1 WHERE uidl = ?1");
  if (!st || exec("BEGIN IMMEDIATE")) return failed();
  for (const auto& u : uidls) {
    bind_text(st, 1, u);
    if (!step_done(st)) return failed();
  }
  return exec("COMMIT") ? failed() : std::error_code();
}

std::error_code StateDb::forget(const std::vector<std::string>& uidls) {
  if (uidls.empty()) return {};
  auto* st = prepare(forget_, "DELETE FROM uidl WHERE uidl = ?1");
  if (!st || exec("BEGIN IMMEDIATE")) return failed();
  for (const auto& u : uidls) {
    bind_text(st, 1, u);
    if (!step_done(st)) return failed();
  }
  return exec("COMMIT") ? failed() : std::error_code();
}

std::error_code StateDb::set_intent(const Intent& intent) {
  auto* st = prepare(set_intent_,
                     "INSERT OR REPLACE INTO intent(uidl, target, token, started_at) "
                     "VALUES(?1, ?2, ?3, ?4)");
  if (!st) return failed();
  bind_text(st, 1, intent.uidl);
  bind_text(st, 2, intent.target);
  bind_text(st, 3, intent.token);
  sqlite3_bind_int64(st, 4, intent.started_at);
  return step_done(st) ? std::error_code() : failed();
}

std::error_code StateDb::intents(std::vector<Intent>& out) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT uidl, target, token, started_at FROM intent", -1, &st,
                         nullptr) != SQLITE_OK) {
    return failed();
  }
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    out.push_back(
        {column_text(st, 0), column_text(st, 1), column_text(st, 2), sqlite3_column_int64(st, 3)});
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? std::error_code() : failed();
}

std::error_code StateDb::drop_intent(const std::string& uidl) {
  auto* st = prepare(drop_intent_, "DELETE FROM intent WHERE uidl = ?1");
  if (!st) return failed();
  bind_text(st, 1, uidl);
  return step_done(st) ? std::error_code() : failed();
}

std::error_code StateDb::record_run(std::int64_t at, const std::string& error,
                                    std::uint64_t messages, std::uint64_t bytes,
                                    std::int64_t next_run) {
  const char* ok_sql =
      "INSERT INTO run_status(id, last_success, messages, bytes, next_run) "
      "VALUES(1, ?1, ?2, ?3, ?4) ON CONFLICT(id) DO UPDATE SET "
      "last_success = excluded.last_success, messages = excluded.messages, "
      "bytes = excluded.bytes, next_run = excluded.next_run, last_error = '', failures = 0";
  const char* err_sql =
      "INSERT INTO run_status(id, last_error_at, last_error, failures, next_run) "
      "VALUES(1, ?1, ?5, 1, ?4) ON CONFLICT(id) DO UPDATE SET "
      "last_error_at = excluded.last_error_at, last_error = excluded.last_error, "
      "failures = failures + 1, next_run = excluded.next_run";
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, error.empty() ? ok_sql : err_sql, -1, &st, nullptr) != SQLITE_OK) {
    return failed();
  }
  sqlite3_bind_int64(st, 1, at);
  if (error.empty()) {
    sqlite3_bind_int64(st, 2, static_cast<sqlite3_int64>(messages));
    sqlite3_bind_int64(st, 3, static_cast<sqlite3_int64>(bytes));
  } else {
    bind_text(st, 5, error);
  }
  sqlite3_bind_int64(st, 4, next_run);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? std::error_code() : failed();
}

bool StateDb::read_status(const std::string& path, RunStatus& out, std::string& error) {
  out = {};
  if (::access(path.c_str(), F_OK) != 0) return true;  // never run
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    error = path + ": " + (db ? sqlite3_errmsg(db) : "cannot open");
    sqlite3_close(db);
    return false;
  }
  sqlite3_busy_timeout(db, 10000);
  sqlite3_stmt* st = nullptr;
  bool ok = true;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT last_success, messages, bytes, last_error_at, last_error, "
                              "failures, next_run FROM run_status WHERE id = 1",
                              -1, &st, nullptr);
  if (rc != SQLITE_OK) {
    // A database of a version without run_status: only --once runs so far.
    std::string msg = sqlite3_errmsg(db);
    ok = msg.starts_with("no such table");
    if (!ok) error = path + ": " + msg;
  } else if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    out.last_success = sqlite3_column_int64(st, 0);
    out.messages = static_cast<std::uint64_t>(sqlite3_column_int64(st, 1));
    out.bytes = static_cast<std::uint64_t>(sqlite3_column_int64(st, 2));
    out.last_error_at = sqlite3_column_int64(st, 3);
    out.last_error = column_text(st, 4);
    out.failures = sqlite3_column_int64(st, 5);
    out.next_run = sqlite3_column_int64(st, 6);
  } else if (rc != SQLITE_DONE) {
    ok = false;
    error = path + ": " + sqlite3_errmsg(db);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return ok;
}

std::size_t StateDb::count() {
  sqlite3_stmt* st = nullptr;
  std::size_t n = 0;
  if (sqlite3_prepare_v2(db_, "SELECT count(*) FROM uidl", -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    n = static_cast<std::size_t>(sqlite3_column_int64(st, 0));
  }
  sqlite3_finalize(st);
  return n;
}

}  // namespace popbox::client
