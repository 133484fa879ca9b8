#pragma once
// Internals shared by the files that implement pop3::Session.

#include <string>
#include <string_view>
#include <vector>

#include "core/limits.hpp"
#include "pop3/session.hpp"

namespace popbox::pop3 {

/// A command's arguments: split at spaces, and the raw rest of the line
/// (PASS passwords may contain spaces).
struct Session::Args {
  const std::vector<std::string_view>& list;
  std::string_view rest;
};

namespace detail {

/// Appends one status line with its CRLF.
inline void reply(std::string& out, std::string_view line) {
  out.append(line);
  out.append("\r\n");
}

/// A user name popbox accepts: 1 to max_user_name bytes, no controls or spaces.
inline bool valid_user_name(std::string_view name) {
  if (name.empty() || name.size() > limits::max_user_name) return false;
  for (unsigned char c : name) {
    if (c < 0x21 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace detail
}  // namespace popbox::pop3
