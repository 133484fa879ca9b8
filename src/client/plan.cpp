// The session plan: a pure function of listing, state and options.
#include "client/plan.hpp"

#include <algorithm>
#include <unordered_set>

namespace popbox::client {

Plan make_plan(const std::vector<ListEntry>& listing, const StateMap& state,
               const PlanOptions& options) {
  Plan plan;
  std::unordered_map<std::string_view, std::size_t> count;
  for (const auto& e : listing) ++count[e.uidl];
  std::size_t known_rows = 0;  // rows for messages still meant to be there
  for (const auto& [uidl, row] : state) {
    if (!row.pending_delete) ++known_rows;
  }
  for (const auto& e : listing) {
    if (state.contains(e.uidl)) ++plan.known;
  }
  if (!options.accept_new_uidls && plan.known == 0 && !listing.empty() &&
      known_rows >= limits::uidl_change_threshold) {
    plan.uidls_changed = true;
    return plan;
  }
  const std::int64_t keep_seconds = std::int64_t{options.keep_days} * 86400;
  std::uint64_t planned_bytes = 0;
  for (std::size_t i = 0; i < listing.size(); ++i) {
    const ListEntry& e = listing[i];
    if (count[e.uidl] > 1) {
      plan.duplicates.push_back(i);
      continue;
    }
    auto it = state.find(e.uidl);
    if (it != state.end()) {
      const StateRow& row = it->second;
      bool expired =
          options.keep && options.keep_days > 0 && options.now >= row.downloaded_at + keep_seconds;
      if (row.pending_delete || !options.keep || expired) plan.remove.push_back(i);
      continue;
    }
    if (options.max_size && e.size > *options.max_size) {
      plan.too_large.push_back(i);
      continue;
    }
    bool over_bytes = !plan.fetch.empty() && e.size > options.max_bytes - planned_bytes;
    if (plan.fetch.size() >= options.max_messages || over_bytes || !plan.deferred.empty()) {
      plan.deferred.push_back(i);  // in order: this run takes a prefix of what is new
      continue;
    }
    planned_bytes += std::min(e.size, options.max_bytes);
    plan.fetch.push_back(i);
  }
  // Rows whose message is gone: a confirmed delete, or removed by another
  // client. Kept while the listing shares nothing with the state (a server
  // showing an empty or foreign maildrop must not wipe the history).
  bool overlap = plan.known > 0;
  for (const auto& [uidl, row] : state) {
    if (count.contains(uidl)) continue;
    if (row.pending_delete || overlap) plan.forget.push_back(uidl);
  }
  return plan;
}

}  // namespace popbox::client
