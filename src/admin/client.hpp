#pragma once
// The client side of the admin socket, for the `popbox who|kick|mailbox|
// expunge|reload` verbs: one request, one reply, blocking, with a deadline.

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "admin/protocol.hpp"

namespace popbox::admin {

/// Why a call failed, with the sysexits code a verb exits with.
struct CallError {
  int exit_code = 0;
  std::string message;
};

/// Sends `request` to the admin socket at `path` and returns the parsed
/// reply object (which may say "ok": false), or nullopt with `error` set:
/// EX_UNAVAILABLE when the socket is missing or refuses (the message names
/// the path and the config key), EX_NOPERM when access is denied,
/// EX_PROTOCOL for a reply that is not JSON, EX_TEMPFAIL on a timeout.
std::optional<nlohmann::json> call(const std::string& path, const Request& request,
                                   std::chrono::seconds wait, CallError& error);

}  // namespace popbox::admin
