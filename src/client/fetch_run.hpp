#pragma once
// `popbox fetch` as a whole: the selected accounts, up to --jobs at once,
// each on its own thread with its own event loop; one flock per account.

#include <cstdint>
#include <string>
#include <vector>

#include "client/console.hpp"
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

/// Runs the accounts and returns the exit code: 0, or the sysexits code of
/// the first account (in config order) that failed.
int run_fetch(const FetchConfig& config, const FetchOptions& options, Console& console);

}  // namespace popbox::client
