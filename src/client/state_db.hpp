#pragma once
// The UIDL state of one account in SQLite (WAL, synchronous=FULL): which
// messages were downloaded and when, which deletions are still to be sent,
// and the delivery intent of the message being written (crash recovery).
// A commit is durable when a call returns without error.

#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "client/plan.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace popbox::client {

/// "Delivering UIDL u to target t as token k": written before the message
/// is, removed in the commit that records it as delivered.
struct Intent {
  std::string uidl;
  std::string target;  ///< the `deliver` spec at the time
  std::string token;   ///< maildir: the file's base name; mbox: the offset
  std::int64_t started_at = 0;
};

/// What the last runs of an account left for `popbox fetch status` (unix
/// times; 0 = never / not scheduled).
struct RunStatus {
  std::int64_t last_success = 0;
  std::uint64_t messages = 0, bytes = 0;  ///< fetched by the last successful run
  std::int64_t last_error_at = 0;
  std::string last_error;     ///< empty: none since the last success
  std::int64_t failures = 0;  ///< failed runs in a row
  std::int64_t next_run = 0;  ///< when the daemon runs it again
};

class StateDb {
 public:
  /// Opens or creates the database; nullptr with `error` set on failure.
  static std::unique_ptr<StateDb> open(const std::string& path, std::string& error);
  ~StateDb();
  StateDb(const StateDb&) = delete;
  StateDb& operator=(const StateDb&) = delete;

  /// Reads every UIDL row into `out`.
  std::error_code load(StateMap& out);
  /// Records `uidl` as delivered at `at` and drops its intent, in one commit.
  std::error_code record(const std::string& uidl, std::int64_t at, bool pending_delete);
  /// Records many rows as delivered, drops their intents and stores
  /// `next_intents` (for messages still to come), all in one commit.
  std::error_code record_batch(const std::vector<std::pair<std::string, StateRow>>& rows,
                               const std::vector<Intent>& next_intents = {});
  /// Marks rows as waiting for a confirmed DELE, in one commit.
  std::error_code mark_pending(const std::vector<std::string>& uidls);
  /// Removes rows (deleted on the server, or gone), in one commit.
  std::error_code forget(const std::vector<std::string>& uidls);
  /// Stores (replaces) the intent for intent.uidl, durably.
  std::error_code set_intent(const Intent& intent);
  /// Reads every intent left by an interrupted run.
  std::error_code intents(std::vector<Intent>& out);
  /// Removes the intent for `uidl`.
  std::error_code drop_intent(const std::string& uidl);
  /// Records the end of a run at `at`: a success (clears the last error and
  /// the failure count) when `error` is empty, else a failure; in one commit.
  std::error_code record_run(std::int64_t at, const std::string& error, std::uint64_t messages,
                             std::uint64_t bytes, std::int64_t next_run);
  /// Reads the run status of the database at `path` without creating or
  /// changing it; false with `error` set when it cannot be read (a missing
  /// file is not an error: `out` stays "never").
  static bool read_status(const std::string& path, RunStatus& out, std::string& error);
  /// Number of UIDL rows.
  std::size_t count();
  /// SQLite's message for the last error.
  const std::string& last_error() const { return error_; }

 private:
  explicit StateDb(sqlite3* db) : db_(db) {}
  std::error_code exec(const char* sql);
  std::error_code failed();
  sqlite3_stmt* prepare(sqlite3_stmt*& cache, const char* sql);

  sqlite3* db_;
  std::string error_;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* drop_intent_ = nullptr;
  sqlite3_stmt* set_pending_ = nullptr;
  sqlite3_stmt* forget_ = nullptr;
  sqlite3_stmt* set_intent_ = nullptr;
};

}  // namespace popbox::client
