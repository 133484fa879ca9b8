#include "auth/scram_message.hpp"

#include <vector>

#include "core/base64.hpp"

namespace popbox::auth {
namespace {

/// Splits at every ','; the parts point into `msg`.
std::vector<std::string_view> split_commas(std::string_view msg) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = msg.find(',', start);
    if (comma == std::string_view::npos) {
      parts.push_back(msg.substr(start));
      return parts;
    }
    parts.push_back(msg.substr(start, comma - start));
    start = comma + 1;
  }
}

/// The value of "k=value" if the attribute name is `k`.
std::optional<std::string_view> attr(std::string_view part, char k) {
  if (part.size() < 2 || part[0] != k || part[1] != '=') return std::nullopt;
  return part.substr(2);
}

/// attr-val = ALPHA "=" value: any attribute, for telling extensions apart
/// from garbage.
bool is_attr_val(std::string_view part) {
  const char c = part.empty() ? '\0' : part[0];
  return part.size() >= 2 && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) && part[1] == '=';
}

/// printable = %x21-2B / %x2D-7E (no ','), at least one.
bool printable(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

/// cb-name = 1*(ALPHA / DIGIT / "." / "-").
bool valid_cb_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

/// Strict base64 of a value; an empty value is not valid here.
std::optional<std::string> base64_value(std::string_view s) {
  if (s.empty()) return std::nullopt;
  return core::base64_decode(s);
}

}  // namespace

std::optional<std::string> decode_saslname(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\0' || c == ',') return std::nullopt;
    if (c != '=') {
      out.push_back(c);
      continue;
    }
    const std::string_view esc = s.substr(i + 1, 2);
    if (esc == "2C") {
      out.push_back(',');
    } else if (esc == "3D") {
      out.push_back('=');
    } else {
      return std::nullopt;
    }
    i += 2;
  }
  return out;
}

ScramParsed<ScramClientFirst> parse_client_first(std::string_view msg) {
  ScramParsed<ScramClientFirst> r;
  const std::vector<std::string_view> parts = split_commas(msg);
  // gs2-cbind-flag "," [authzid] "," username "," nonce
  if (parts.size() < 4) return r;
  ScramClientFirst f;
  const std::string_view flag = parts[0];
  if (flag == "n") {
    f.binding = ScramClientFirst::Binding::none;
  } else if (flag == "y") {
    f.binding = ScramClientFirst::Binding::client_only;
  } else if (auto name = attr(flag, 'p'); name && valid_cb_name(*name)) {
    f.binding = ScramClientFirst::Binding::used;
    f.cb_name = std::string(*name);
  } else {
    return r;
  }
  if (!parts[1].empty()) {
    auto a = attr(parts[1], 'a');
    auto authzid = a ? decode_saslname(*a) : std::nullopt;
    if (!authzid) return r;
    f.authzid = std::move(*authzid);
  }
  f.gs2_header = std::string(msg.substr(0, parts[0].size() + parts[1].size() + 2));
  f.bare = std::string(msg.substr(f.gs2_header.size()));
  // RFC 5802: "m=" is reserved for a mandatory extension; a server that does
  // not know it must fail the exchange.
  if (attr(parts[2], 'm')) {
    r.error = ScramParseError::extension;
    return r;
  }
  auto n = attr(parts[2], 'n');
  auto user = n ? decode_saslname(*n) : std::nullopt;
  if (!user) return r;
  f.user = std::move(*user);
  auto nonce = attr(parts[3], 'r');
  if (!nonce || !printable(*nonce)) return r;
  f.nonce = std::string(*nonce);
  if (parts.size() > 4) {
    for (std::size_t i = 4; i < parts.size(); ++i) {
      if (!is_attr_val(parts[i])) return r;
    }
    r.error = ScramParseError::extension;
    return r;
  }
  r.value = std::move(f);
  return r;
}

ScramParsed<ScramClientFinal> parse_client_final(std::string_view msg) {
  ScramParsed<ScramClientFinal> r;
  const std::vector<std::string_view> parts = split_commas(msg);
  // channel-binding "," nonce ["," extensions] "," proof
  if (parts.size() < 3) return r;
  ScramClientFinal f;
  auto c = attr(parts[0], 'c');
  auto cb = c ? base64_value(*c) : std::nullopt;
  if (!cb) return r;
  f.channel_binding = std::move(*cb);
  auto nonce = attr(parts[1], 'r');
  if (!nonce || !printable(*nonce)) return r;
  f.nonce = std::string(*nonce);
  auto p = attr(parts.back(), 'p');
  auto proof = p ? base64_value(*p) : std::nullopt;
  if (!proof) return r;
  f.proof = std::move(*proof);
  if (parts.size() > 3) {
    for (std::size_t i = 2; i + 1 < parts.size(); ++i) {
      if (!is_attr_val(parts[i])) return r;
    }
    r.error = ScramParseError::extension;
    return r;
  }
  f.without_proof = std::string(msg.substr(0, msg.size() - parts.back().size() - 1));
  r.value = std::move(f);
  return r;
}

}  // namespace popbox::auth
