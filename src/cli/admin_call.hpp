#pragma once
// What the admin verbs (who, kick, mailbox, expunge, reload) share: the
// -c/--config and --socket options, and one call to the admin socket.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "admin/protocol.hpp"

namespace CLI {
class App;
}

namespace popbox::cli {

/// The options every admin verb takes.
struct AdminTarget {
  std::string config = "/etc/popbox/popbox.toml";
  std::string socket;  ///< --socket; "" = the config's [admin] socket
};

/// Adds -c/--config and (if `with_socket`) --socket to `cmd`.
void add_admin_options(CLI::App& cmd, AdminTarget& target, bool with_socket = true);

/// Sends `request` and returns the reply when it says "ok". Otherwise
/// prints "popbox VERB: why" to stderr, sets `rc` (sysexits) and returns
/// nullopt.
std::optional<nlohmann::json> admin_call(const char* verb, const AdminTarget& target,
                                         const admin::Request& request, std::chrono::seconds wait,
                                         int& rc);

/// "2026-12-02 01:02:03" (UTC) for seconds since the epoch.
std::string format_time(std::int64_t seconds);

}  // namespace popbox::cli
