// Parsing the `deliver` key.
#include "client/target.hpp"

#include <charconv>

namespace popbox::client {

std::string expand_home(std::string_view path, std::string_view home) {
  if (path == "~") return std::string(home);
  if (path.starts_with("~/")) return std::string(home) + std::string(path.substr(1));
  return std::string(path);
}

namespace {

bool parse_port(std::string_view text, std::uint16_t& port) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v == 0 || v > 65535) return false;
  port = static_cast<std::uint16_t>(v);
  return true;
}

// "HOST:PORT[/RECIPIENT]", HOST possibly "[v6]".
bool parse_lmtp(std::string_view rest, Target& t, std::string& error) {
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    t.recipient = std::string(rest.substr(slash + 1));
    rest = rest.substr(0, slash);
    if (t.recipient.empty()) {
      error = "empty LMTP recipient after '/'";
      return false;
    }
  }
  std::string_view port_text;
  if (rest.starts_with('[')) {
    auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      error = "expected lmtp:[ADDRESS]:PORT";
      return false;
    }
    t.host = std::string(rest.substr(1, close - 1));
    port_text = rest.substr(close + 2);
  } else {
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      error = "expected lmtp:HOST:PORT";
      return false;
    }
    t.host = std::string(rest.substr(0, colon));
    port_text = rest.substr(colon + 1);
  }
  if (t.host.empty() || !parse_port(port_text, t.port)) {
    error = "expected lmtp:HOST:PORT with a port in 1..65535";
    return false;
  }
  return true;
}

}  // namespace

std::optional<Target> parse_target(std::string_view text, std::string_view home,
                                   std::string& error) {
  Target t;
  t.spec = std::string(text);
  auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    error = "expected maildir:PATH, mbox:PATH, mda:COMMAND or lmtp:HOST:PORT";
    return std::nullopt;
  }
  std::string_view kind = text.substr(0, colon);
  std::string_view rest = text.substr(colon + 1);
  if (kind == "maildir" || kind == "mbox") {
    t.kind = kind == "maildir" ? Target::Kind::maildir : Target::Kind::mbox;
    if (rest.empty()) {
      error = std::string(kind) + ": needs a path";
      return std::nullopt;
    }
    t.path = expand_home(rest, home);
    while (t.path.size() > 1 && t.path.back() == '/') t.path.pop_back();
    return t;
  }
  if (kind == "mda") {
    t.kind = Target::Kind::mda;
    if (rest.find_first_not_of(" \t") == std::string_view::npos) {
      error = "mda: needs a command";
      return std::nullopt;
    }
    t.command = std::string(rest);
    return t;
  }
  if (kind == "lmtp") {
    t.kind = Target::Kind::lmtp;
    if (!parse_lmtp(rest, t, error)) return std::nullopt;
    return t;
  }
  error = "unknown delivery kind '" + std::string(kind) + "' (expected maildir, mbox, mda or lmtp)";
  return std::nullopt;
}

}  // namespace popbox::client
