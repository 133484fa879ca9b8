#pragma once
// Internals shared by the files that implement pop3::Session.

#include <string>
#include <string_view>
#include <vector>

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

}  // namespace detail
}  // namespace popbox::pop3
