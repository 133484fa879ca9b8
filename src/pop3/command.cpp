#include "pop3/command.hpp"

#include <limits>

namespace popbox::pop3 {

CommandLine parse_command(std::string_view line) {
  CommandLine cmd;
  std::size_t sp = line.find(' ');
  std::string_view word = line.substr(0, sp);
  if (word.size() >= 3 && word.size() <= 4) {
    bool ok = true;
    for (std::size_t i = 0; i < word.size(); ++i) {
      char c = word[i];
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      if (c < 'A' || c > 'Z') ok = false;
      cmd.keyword[i] = c;
    }
    if (!ok) cmd.keyword[0] = '\0';
  }
  if (sp == std::string_view::npos) return cmd;
  cmd.rest = line.substr(sp + 1);
  // Arguments are separated by spaces; tolerate runs of spaces and tabs as
  // many clients send them.
  std::string_view r = cmd.rest;
  while (!r.empty()) {
    std::size_t start = r.find_first_not_of(" \t");
    if (start == std::string_view::npos) break;
    r.remove_prefix(start);
    std::size_t end = r.find_first_of(" \t");
    cmd.args.push_back(r.substr(0, end));
    if (end == std::string_view::npos) break;
    r.remove_prefix(end);
  }
  return cmd;
}

std::optional<std::uint64_t> parse_number(std::string_view arg) {
  if (arg.empty() || arg.size() > 19) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : arg) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

}  // namespace popbox::pop3
