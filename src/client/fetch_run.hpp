#pragma once
// `popbox fetch` as a whole: the selected accounts, up to --jobs at once,
// each on its own thread with its own event loop; one flock per account.

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "client/console.hpp"
#include "client/engine.hpp"
#include "client/error.hpp"
#include "client/fetch_config.hpp"

namespace popbox::client {

struct FetchOptions {
  std::vector<std::string> accounts;  ///< empty: every account
  bool dry_run = false;
  bool accept_new_uidls = false;
  unsigned jobs = 4;
  std::int64_t now = 0;  ///< unix time
  std::string home;      ///< for ~/.netrc
};

/// What one run of one account did.
struct AccountOutcome {
  Failure failure;  ///< empty: the run succeeded
  EngineStats stats;
  double seconds = 0;
  /// False when the run never got the account's lock and state (another run
  /// holds it, or the state is unusable): nothing to record about it.
  bool started = false;
};

/// Runs `account` once: lock, state, connection, delivery, as `popbox fetch
/// --once` does. When `stop` becomes true the run ends after the message
/// being delivered is durable and recorded (nothing else is asked for).
AccountOutcome run_account(const AccountConfig& account, const FetchOptions& options,
                           Console& console, const std::atomic<bool>* stop = nullptr);

/// The summary line of a run ("work: fetched 3 messages (1.2 KB) in 0.52 s").
std::string run_summary(const AccountConfig& account, const EngineStats& stats, double seconds);

/// Records the end of a run at unix time `at` in the account's state
/// database, for `popbox fetch status`; "" or why it could not.
std::string record_run_status(const AccountConfig& account, const AccountOutcome& outcome,
                              std::int64_t at, std::int64_t next_run);

/// Runs the accounts and returns the exit code: 0, or the sysexits code of
/// the first account (in config order) that failed.
int run_fetch(const FetchConfig& config, const FetchOptions& options, Console& console);

}  // namespace popbox::client
