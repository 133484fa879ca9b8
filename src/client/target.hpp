#pragma once
// Where fetched mail goes: the `deliver` key of an account.
//   maildir:PATH | mbox:PATH | mda:COMMAND | lmtp:HOST:PORT[/RECIPIENT]

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace popbox::client {

struct Target {
  enum class Kind { maildir, mbox, mda, lmtp };
  Kind kind = Kind::maildir;
  std::string path;        ///< maildir, mbox: "~/" already expanded
  std::string command;     ///< mda: run with /bin/sh -c, message on stdin
  std::string host;        ///< lmtp: name or address (brackets removed)
  std::uint16_t port = 0;  ///< lmtp
  std::string recipient;   ///< lmtp: RCPT TO; empty means the local user name
  std::string spec;        ///< the text as written, to recognise a changed target
};

/// Parses a delivery target; on failure returns nullopt and says why in
/// `error`. `home` replaces a leading "~" of a path.
std::optional<Target> parse_target(std::string_view text, std::string_view home,
                                   std::string& error);

/// Replaces a leading "~" or "~/" of `path` by `home`.
std::string expand_home(std::string_view path, std::string_view home);

}  // namespace popbox::client
