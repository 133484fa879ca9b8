#pragma once
// Deciding what a session does, from the server's listing and the UIDL
// state: which messages to download, which to delete, which are too large,
// which state rows to forget. Pure: no I/O, "now" is an input.

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/session.hpp"

namespace popbox::client {

/// What the state database knows about one UIDL.
struct StateRow {
  std::int64_t downloaded_at = 0;  ///< unix time
  bool pending_delete = false;     ///< DELE still to be confirmed by a QUIT
};
using StateMap = std::unordered_map<std::string, StateRow>;

struct PlanOptions {
  bool keep = true;
  int keep_days = 0;     ///< with keep: delete this long after download; 0 = never
  std::int64_t now = 0;  ///< unix time
  std::optional<std::uint64_t> max_size;
  bool accept_new_uidls = false;
  /// Messages and listed bytes one run downloads at most; the rest wait
  /// for the next run (the first message is taken whatever its size).
  std::size_t max_messages = limits::default_max_messages_per_run;
  std::uint64_t max_bytes = limits::max_run_bytes;
};

struct Plan {
  std::vector<std::size_t> fetch;       ///< indices into the listing, in order
  std::vector<std::size_t> remove;      ///< DELE now: pending, delete mode, or expired
  std::vector<std::size_t> too_large;   ///< over max_size: left on the server
  std::vector<std::size_t> duplicates;  ///< a UIDL the server lists twice: left alone
  std::vector<std::size_t> deferred;    ///< over the run's bounds: fetched next run
  std::vector<std::string> forget;      ///< state rows no longer on the server
  std::size_t known = 0;                ///< server messages found in the state
  /// None of the server's UIDLs is known although the state holds many:
  /// the server probably renumbered them. Nothing is fetched or deleted.
  bool uidls_changed = false;
};

/// Computes the plan for one session.
Plan make_plan(const std::vector<ListEntry>& listing, const StateMap& state,
               const PlanOptions& options);

}  // namespace popbox::client
