#pragma once
// What a reload (SIGHUP, `popbox reload`) did: one result per part reloaded.

#include <string>
#include <vector>

namespace popbox::net {

/// One part of a reload: "users", "oauth_keys", "tls".
struct ReloadItem {
  std::string what;
  bool ok = false;
  std::string error;  ///< why it failed; the old state stays in use
};

/// Every part a reload tried, in order.
struct ReloadReport {
  std::vector<ReloadItem> items;
  /// True when every part succeeded.
  bool ok() const {
    for (const auto& i : items) {
      if (!i.ok) return false;
    }
    return true;
  }
};

}  // namespace popbox::net
