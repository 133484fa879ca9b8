// The fetch daemon's pure parts: schedule arithmetic, the status line, the
// poll keys of the fetch config and the run status in the state database.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "client/daemon.hpp"
#include "client/fetch_config.hpp"
#include "client/state_db.hpp"
#include "config/config.hpp"
#include "core/limits.hpp"
#include "temp_dir.hpp"

using namespace popbox::client;
using namespace std::chrono_literals;
using popbox::test::TempDir;

namespace {

const std::string account =
    "[[account]]\nname = \"work\"\nhost = \"h\"\nuser = \"u\"\npassword = \"p\"\n"
    "deliver = \"maildir:/tmp/x\"\n";

FetchConfig load(const TempDir& dir, const std::string& text) {
  std::string path = dir.path + "/fetch.toml";
  std::ofstream(path) << text;
  return load_fetch_config(path, "/home/u");
}

std::string error_of(const TempDir& dir, const std::string& text) {
  try {
    load(dir, text);
  } catch (const popbox::config::ConfigError& e) {
    std::string msg = e.what();
    std::string path = dir.path + "/fetch.toml";
    if (msg.starts_with(path)) msg = "F" + msg.substr(path.size());
    return msg;
  }
  return "no error";
}

}  // namespace

TEST(DaemonSchedule, BackoffDoublesPerFailureUpToTheCap) {
  struct Case {
    std::chrono::milliseconds poll;
    int failures;
    std::chrono::milliseconds want;
  };
  std::vector<Case> cases = {
      {1s, 0, 1s},      {1s, 1, 2s},          {1s, 2, 4s},      {1s, 3, 8s},
      {5min, 0, 5min},  {5min, 1, 10min},     {5min, 3, 40min}, {5min, 4, 1h},
      {5min, 1000, 1h}, {1s, 1 << 30, 1024s},  // the exponent stops at 10
      {2h, 0, 2h},      {2h, 1, 2h},           // poll above the cap: never shorter than poll
      {1s, -1, 1s},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(next_delay(c.poll, c.failures), c.want)
        << c.poll.count() << " ms, " << c.failures << " failures";
  }
  EXPECT_EQ(popbox::client::limits::max_backoff, 3600s);
}

TEST(DaemonSchedule, JitterIsATenthOfTheDelayAtMostAMinute) {
  EXPECT_EQ(max_jitter_for(1s), 100ms);
  EXPECT_EQ(max_jitter_for(5min), 30s);
  EXPECT_EQ(max_jitter_for(10min), 60s);
  EXPECT_EQ(max_jitter_for(1h), 60s);
  EXPECT_EQ(max_jitter_for(0ms), 0ms);
}

TEST(DaemonStatus, OneGreppableLinePerRun) {
  AccountOutcome ok;
  ok.stats.fetched = 3;
  ok.stats.bytes = 5120;
  ok.seconds = 0.4213;
  EXPECT_EQ(status_line("work", ok, 0, 1764639305, false),
            "popbox fetch: account=work result=ok messages=3 bytes=5120 duration=0.42s "
            "next_run=2025-12-02T01:35:05Z");
  AccountOutcome bad;
  bad.failure = fail(fetch_errc::unavailable, "cannot connect to \"h\":995:\nrefused\\");
  EXPECT_EQ(status_line("home", bad, 2, 0, false),
            "popbox fetch: account=home result=error messages=0 bytes=0 duration=0.00s "
            "failures=2 next_run=- error=\"cannot connect to \\\"h\\\":995: refused\\\\\"");
  EXPECT_EQ(status_line("home", bad, 2, 0, true).substr(0, 47),
            "popbox fetch: account=home result=stopped messa");
  EXPECT_EQ(iso_time(0), "1970-01-01T00:00:00Z");
}

TEST(DaemonConfig, PollDefaultsFromTheFetchTable) {
  TempDir dir;
  FetchConfig cfg = load(dir, account);
  EXPECT_FALSE(cfg.daemon);
  EXPECT_EQ(cfg.poll, 5min);
  EXPECT_EQ(cfg.accounts[0].poll, 5min);
  cfg = load(dir, "[fetch]\ndaemon = true\npoll = \"90s\"\n" + account +
                      "[[account]]\nname = \"b\"\nhost = \"h\"\nuser = \"u\"\n"
                      "deliver = \"mbox:/tmp/b\"\npoll = \"2s\"\n");
  EXPECT_TRUE(cfg.daemon);
  EXPECT_EQ(cfg.poll, 90s);
  ASSERT_EQ(cfg.accounts.size(), 2u);
  EXPECT_EQ(cfg.accounts[0].poll, 90s);
  EXPECT_EQ(cfg.accounts[1].name, "b");
  EXPECT_EQ(cfg.accounts[1].poll, 2s);
  // [fetch] after the accounts still sets their default.
  cfg = load(dir, account + "[fetch]\npoll = \"1m\"\n");
  EXPECT_EQ(cfg.accounts[0].poll, 1min);
}

TEST(DaemonConfig, BadKeysNameFileLineAndProblem) {
  TempDir dir;
  struct Case {
    std::string text, want;
  };
  std::vector<Case> cases = {
      {account + "poll = \"500ms\"\n",
       "F:7:8: 'poll' must be a duration from 1s to 604800s, such as \"5m\""},
      {account + "poll = 300\n",
       "F:7:8: 'poll' must be a duration from 1s to 604800s, such as \"5m\""},
      {account + "poll = \"8d\"\n",
       "F:7:8: 'poll' must be a duration from 1s to 604800s, such as \"5m\""},
      {"[fetch]\ndaemon = \"yes\"\n" + account, "F:2:10: 'daemon' must be true or false"},
      {"[fetch]\njobs = 2\n" + account, "F:2:8: unknown key 'jobs' in [fetch]"},
      {"fetch = 1\n" + account, "F:1:9: 'fetch' must be a table ([fetch])"},
  };
  for (const auto& c : cases) EXPECT_EQ(error_of(dir, c.text), c.want) << c.text;
}

TEST(DaemonStateDb, RunStatusIsAddedToOldDatabasesAndRecorded) {
  TempDir dir;
  std::string path = dir.path + "/a.sqlite";
  RunStatus s;
  std::string error;
  ASSERT_TRUE(StateDb::read_status(path, s, error)) << error;  // no file: never
  EXPECT_EQ(s.last_success, 0);
  EXPECT_FALSE(std::filesystem::exists(path)) << "status must not create the state";
  {
    // A database of the version before run_status.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TABLE uidl(uidl TEXT PRIMARY KEY NOT NULL, downloaded_at "
                           "INTEGER NOT NULL, pending_delete INTEGER NOT NULL DEFAULT 0) WITHOUT "
                           "ROWID; INSERT INTO uidl VALUES('u1', 5, 0);",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  ASSERT_TRUE(StateDb::read_status(path, s, error)) << error;
  EXPECT_EQ(s.last_success, 0);
  {
    auto db = StateDb::open(path, error);
    ASSERT_TRUE(db) << error;
    EXPECT_EQ(db->count(), 1u);  // the migration keeps the rows
    ASSERT_FALSE(db->record_run(100, "", 3, 900, 400));
    ASSERT_FALSE(db->record_run(500, "refused", 0, 0, 600));
    ASSERT_FALSE(db->record_run(700, "refused again", 0, 0, 900));
  }
  ASSERT_TRUE(StateDb::read_status(path, s, error)) << error;
  EXPECT_EQ(s.last_success, 100);
  EXPECT_EQ(s.messages, 3u);
  EXPECT_EQ(s.bytes, 900u);
  EXPECT_EQ(s.last_error_at, 700);
  EXPECT_EQ(s.last_error, "refused again");
  EXPECT_EQ(s.failures, 2);
  EXPECT_EQ(s.next_run, 900);
  {
    auto db = StateDb::open(path, error);
    ASSERT_FALSE(db->record_run(1000, "", 1, 10, 0));
  }
  ASSERT_TRUE(StateDb::read_status(path, s, error)) << error;
  EXPECT_EQ(s.last_success, 1000);
  EXPECT_EQ(s.last_error, "");
  EXPECT_EQ(s.last_error_at, 700);
  EXPECT_EQ(s.failures, 0);
  EXPECT_EQ(s.next_run, 0);
}
