#pragma once
// `popbox fetch --daemon`: one process that runs every account on its own
// schedule. A scheduler thread waits (poll(2) on a self-pipe, never a busy
// loop) for the earliest due account, a finished run or a signal, and
// starts at most `jobs` runs at once, each the unchanged `--once` run of
// one account (run_account) on its own thread with its own event loop.
//
//   success:      next = now + poll + jitter
//   n-th failure: next = now + min(poll * 2^n, max(max_backoff, poll)) + jitter
//   jitter:       uniform in [0, min(delay / jitter_divisor, max_jitter)]
//   SIGHUP:       re-read the config; a bad one is logged and the old kept
//   SIGTERM/INT:  start nothing more, end each run after its current
//                 message, exit 0; a second one exits at once (EX_TEMPFAIL;
//                 exactly-once holds as after SIGKILL)

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "client/console.hpp"
#include "client/fetch_config.hpp"
#include "client/fetch_run.hpp"

namespace popbox::client {

struct DaemonOptions {
  FetchOptions fetch;                 ///< accounts filter, jobs, home, accept_new_uidls
  std::filesystem::path config_file;  ///< re-read on SIGHUP
  bool fixed_now = false;             ///< keep fetch.now (POPBOX_FETCH_NOW), else the clock
  /// Service-manager hooks (sd_notify): up, reloading, stopping; may be empty.
  std::function<void(std::string_view)> ready, stopping;
  std::function<void()> reloading;
};

/// Polls the selected accounts of `config` until SIGTERM or SIGINT; returns
/// the exit code (0 after a graceful stop, EX_CONFIG for an unknown
/// --account). Installs its own SIGHUP, SIGTERM and SIGINT handlers.
int run_daemon(FetchConfig config, const DaemonOptions& options, Console& console);

/// The delay before the next run after `failures` failed runs in a row (0:
/// the last run succeeded), before jitter.
std::chrono::milliseconds next_delay(std::chrono::milliseconds poll, int failures);

/// The most jitter added to a delay of `delay`.
std::chrono::milliseconds max_jitter_for(std::chrono::milliseconds delay);

/// The status line of one run: "account=work result=ok messages=3 ..."
/// (greppable, one line; server text quoted and made terminal-safe).
std::string status_line(const std::string& account, const AccountOutcome& outcome, int failures,
                        std::int64_t next_run, bool stopped);

/// A unix time as "2026-12-02T01:30:05Z" (UTC).
std::string iso_time(std::int64_t unix_seconds);

}  // namespace popbox::client
