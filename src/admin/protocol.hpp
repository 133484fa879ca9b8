#pragma once
// The admin socket's request/reply protocol: one JSON object per line in
// each direction, one request per connection. Pure code (no I/O), shared by
// the server and the `popbox who|kick|mailbox|expunge|reload` verbs.
//
// Requests:
//   {"verb":"who"}
//   {"verb":"kick","user":"alice"}          {"verb":"kick","session":42}
//   {"verb":"mailbox_stat","user":"alice"}
//   {"verb":"expunge","user":"alice"|"all":true,"older_than":7776000,"dry_run":true}
//   {"verb":"reload"}
// Replies: {"ok":true,...} or {"ok":false,"error":"why"}.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace popbox::admin {

enum class Verb { who, kick, mailbox_stat, expunge, reload };

/// One parsed request.
struct Request {
  Verb verb = Verb::who;
  std::string user;                      ///< kick, mailbox_stat, expunge of one user
  std::optional<std::uint64_t> session;  ///< kick by session id
  bool all = false;                      ///< expunge: every user of the passwd-file
  std::int64_t older_than = 0;           ///< expunge: age in seconds (> 0)
  bool dry_run = false;                  ///< expunge: report only
  friend bool operator==(const Request&, const Request&) = default;
};

/// A reply: one JSON line (newline included) and whether it says "ok".
struct Reply {
  bool ok = false;
  std::string line;
};

/// The name of a verb on the wire ("mailbox_stat").
const char* verb_name(Verb v) noexcept;

/// Parses one request (the line without its newline). On failure returns
/// nullopt and says why in `error`; never throws.
std::optional<Request> parse_request(std::string_view text, std::string& error);

/// The request as one JSON line (newline included), as the verbs send it.
std::string format_request(const Request& request);

/// An error reply line: {"ok":false,"error":message}.
std::string error_reply(std::string_view message);

/// Parses an age such as "90d", "12h", "30m", "45s" or "2w" (a positive
/// whole number and one unit) into seconds; nullopt for anything else,
/// including an overflow.
std::optional<std::int64_t> parse_age(std::string_view text);

}  // namespace popbox::admin
