#pragma once
// Splitting a POP3 command line into keyword and arguments. Pure functions.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace popbox::pop3 {

/// A command line split at spaces: the keyword (upper-cased into `keyword`)
/// and the arguments as they were sent.
struct CommandLine {
  char keyword[5] = {};   ///< at most 4 letters, NUL-terminated; empty if invalid
  std::string_view rest;  ///< everything after the first space (for PASS)
  std::vector<std::string_view> args;
};

/// Parses one line (without CRLF). Keywords are case-insensitive.
CommandLine parse_command(std::string_view line);

/// Parses a message number or line count argument: decimal digits only, no
/// sign, no leading '+', no overflow. nullopt if not such a number.
std::optional<std::uint64_t> parse_number(std::string_view arg);

}  // namespace popbox::pop3
