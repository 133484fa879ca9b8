// OAUTHBEARER (RFC 7628 section 3.1) and XOAUTH2 client messages.
#include "auth/oauth_sasl.hpp"

#include <nlohmann/json.hpp>

namespace popbox::auth {
namespace {

constexpr char kvsep = '\x01';

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// RFC 7628: value = *(VCHAR / SP / HTAB / CR / LF)
bool is_value_char(char c) {
  return (c >= 0x21 && c <= 0x7e) || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// RFC 6750 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
bool is_b64token(std::string_view t) {
  std::size_t i = 0;
  while (i < t.size() &&
         (is_alpha(t[i]) || (t[i] >= '0' && t[i] <= '9') || t[i] == '-' || t[i] == '.' ||
          t[i] == '_' || t[i] == '~' || t[i] == '+' || t[i] == '/')) {
    ++i;
  }
  if (i == 0) return false;
  while (i < t.size() && t[i] == '=') ++i;
  return i == t.size();
}

// Reads "key=value^A ... ^A" (the list ends with an empty pair); keeps the
// auth value. Unknown keys (host, port, ...) are allowed and ignored,
// except user= which XOAUTH2 needs.
bool parse_pairs(std::string_view s, std::optional<std::string>* user, std::string& token) {
  bool have_auth = false;
  for (;;) {
    if (s.size() == 1 && s[0] == kvsep) break;  // the final ^A
    std::size_t eq = s.find('=');
    std::size_t end = s.find(kvsep);
    if (eq == std::string_view::npos || end == std::string_view::npos || eq > end || eq == 0) {
      return false;
    }
    std::string_view key = s.substr(0, eq), value = s.substr(eq + 1, end - eq - 1);
    for (char c : key) {
      if (!is_alpha(c)) return false;
    }
    for (char c : value) {
      if (!is_value_char(c)) return false;
    }
    if (key == "auth") {
      if (have_auth) return false;
      // "Bearer" is case-insensitive (RFC 6750), then one or more spaces.
      constexpr std::string_view scheme = "bearer";
      if (value.size() <= scheme.size()) return false;
      for (std::size_t i = 0; i < scheme.size(); ++i) {
        char c = value[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != scheme[i]) return false;
      }
      std::string_view rest = value.substr(scheme.size());
      std::size_t sp = rest.find_first_not_of(' ');
      if (sp == 0 || sp == std::string_view::npos) return false;
      if (!is_b64token(rest.substr(sp))) return false;
      token.assign(rest.substr(sp));
      have_auth = true;
    } else if (user && key == "user") {
      if (*user) return false;
      *user = std::string(value);
    }
    s.remove_prefix(end + 1);
  }
  return have_auth;
}

// RFC 5801 saslname: "=2C" is ',', "=3D" is '='; a bare ',' or '=' is invalid.
std::optional<std::string> decode_saslname(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ',') return std::nullopt;
    if (s[i] != '=') {
      out += s[i];
      continue;
    }
    std::string_view esc = s.substr(i + 1, 2);
    if (esc == "2C") {
      out += ',';
    } else if (esc == "3D") {
      out += '=';
    } else {
      return std::nullopt;
    }
    i += 2;
  }
  return out;
}

}  // namespace

std::optional<BearerMessage> parse_oauthbearer(std::string_view msg) {
  // gs2-header = gs2-cbind-flag "," [ authzid ] ","
  if (msg.size() < 2 || (msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',') return std::nullopt;
  msg.remove_prefix(2);
  if (!msg.starts_with("a=")) return std::nullopt;
  std::size_t comma = msg.find(',');
  if (comma == std::string_view::npos) return std::nullopt;
  auto user = decode_saslname(msg.substr(2, comma - 2));
  if (!user || user->empty()) return std::nullopt;
  msg.remove_prefix(comma + 1);
  if (msg.empty() || msg[0] != kvsep) return std::nullopt;
  msg.remove_prefix(1);
  BearerMessage out;
  out.user = std::move(*user);
  if (!parse_pairs(msg, nullptr, out.token)) return std::nullopt;
  return out;
}

std::optional<BearerMessage> parse_xoauth2(std::string_view msg) {
  std::optional<std::string> user;
  BearerMessage out;
  if (!parse_pairs(msg, &user, out.token) || !user || user->empty()) return std::nullopt;
  out.user = std::move(*user);
  return out;
}

std::string oauth_error_challenge(std::string_view scope) {
  nlohmann::ordered_json j;
  j["status"] = "invalid_token";
  j["schemes"] = "bearer";
  j["scope"] = std::string(scope);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace popbox::auth
