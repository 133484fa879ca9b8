// Parsing and expanding Dovecot UIDL formats the way Dovecot 2.x's
// var_expand does (lib/var-expand.c), for the variables pop3-commands.c
// offers: v/uidvalidity, u/uid, m/md5, f/filename, g/guid.
#include "store/uidl_format.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace popbox::store {
namespace {

constexpr std::string_view dovecot_default = "%08Xu%08Xv";
constexpr std::string_view supported_modifiers = "LUEXRTM";
constexpr std::string_view all_modifiers = "LUEXRHNMDT";  // Dovecot's list, in its order
constexpr std::size_t max_modifiers = 10;                 // Dovecot's MAX_MODIFIER_COUNT
constexpr int max_width = 100000;                         // far beyond any UIDL

[[noreturn]] void fail(std::string_view text, const std::string& why) {
  throw std::invalid_argument("uidl_format \"" + std::string(text) + "\": " + why);
}

char key_of_long_name(std::string_view text, std::string_view name) {
  if (name == "uid") return 'u';
  if (name == "uidvalidity") return 'v';
  if (name == "filename") return 'f';
  if (name == "guid") return 'g';
  if (name == "md5") fail(text, "%{md5} (%m) is mbox-only in Dovecot; a Maildir never had it");
  fail(text, "unknown variable %{" + std::string(name) + "}");
}

char short_key(std::string_view text, char c) {
  switch (c) {
    case 'u':
    case 'v':
    case 'f':
    case 'g':
    case '%':
      return c;
    case 'm':
      fail(text, "%m is mbox-only in Dovecot; a Maildir never had it");
    default:
      fail(text, std::string("unknown variable %") + c);
  }
}

std::string hex_of_decimal(std::string_view s) {
  unsigned long long v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  // Dovecot's str_to_ullong: digits only, the whole string, no overflow.
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || s[0] == '-' || s[0] == '+') {
    v = 0;
  }
  char buf[20];
  auto res = std::to_chars(buf, buf + sizeof buf, v, 16);
  return std::string(buf, res.ptr);
}

std::string md5_hex(std::string_view s) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(s.data(), s.size(), digest, &len, EVP_md5(), nullptr) != 1) {
    // A FIPS-only OpenSSL refuses MD5; the %M modifier then cannot be emulated.
    throw std::runtime_error("MD5 is unavailable");
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xF];
  }
  return out;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string apply_modifier(char m, std::string v) {
  switch (m) {
    case 'L':
      for (char& c : v) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
      return v;
    case 'U':
      for (char& c : v) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
      return v;
    case 'E': {
      std::string out;
      for (char c : v) {
        if (c == '"' || c == '\\' || c == '\'') out += '\\';
        out += c;
      }
      return out;
    }
    case 'X':
      return hex_of_decimal(v);
    case 'R':
      std::reverse(v.begin(), v.end());
      return v;
    case 'T':
      while (!v.empty() && is_space(v.back())) v.pop_back();
      return v;
    case 'M':
      return md5_hex(v);
  }
  return v;
}

int take_digits(std::string_view text, std::size_t& i) {
  int n = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    n = std::min(max_width, n * 10 + (text[i] - '0'));
    ++i;
  }
  return n;
}

}  // namespace

UidlFormat::UidlFormat() : UidlFormat(dovecot_default) {}

UidlFormat::UidlFormat(std::string_view text) : text_(text) {
  std::string_view src = text == "popbox" ? dovecot_default : text;
  if (src.empty()) fail(text, "empty");
  Part literal;
  for (std::size_t i = 0; i < src.size(); ++i) {
    if (src[i] != '%') {
      literal.literal += src[i];
      continue;
    }
    ++i;
    Part p;
    int sign = 1;
    if (i < src.size() && src[i] == '-') {
      sign = -1;
      ++i;
    }
    if (i < src.size() && src[i] == '0') {
      p.zero_padding = true;
      ++i;
    }
    p.width = take_digits(src, i);
    if (i < src.size() && src[i] == '.') {
      p.offset = sign * p.width;
      sign = 1;
      p.width = 0;
      ++i;
      // A zero before the offset meant nothing; one after the dot pads.
      p.zero_padding = false;
      if (i < src.size() && src[i] == '0') {
        p.zero_padding = true;
        ++i;
      }
      if (i < src.size() && src[i] == '-') {
        sign = -1;
        ++i;
      }
      p.width = sign * take_digits(src, i);
    }
    while (p.modifiers.size() < max_modifiers && i < src.size() &&
           all_modifiers.find(src[i]) != std::string_view::npos) {
      if (supported_modifiers.find(src[i]) == std::string_view::npos) {
        fail(text, std::string("modifier %") + src[i] + " is not supported");
      }
      p.modifiers += src[i++];
    }
    if (i >= src.size()) fail(text, "ends inside a % sequence");
    if (src[i] == '{') {
      std::size_t close = src.find('}', i);
      if (close == std::string_view::npos) fail(text, "unterminated %{");
      p.key = key_of_long_name(text, src.substr(i + 1, close - i - 1));
      i = close;
    } else {
      p.key = short_key(text, src[i]);
    }
    if (!literal.literal.empty()) parts_.push_back(std::move(literal));
    literal = Part{};
    parts_.push_back(std::move(p));
  }
  if (!literal.literal.empty()) parts_.push_back(std::move(literal));
}

std::string UidlFormat::expand(const DovecotUidlVars& vars) const {
  std::string out;
  for (const Part& p : parts_) {
    if (p.key == 0) {
      out += p.literal;
      continue;
    }
    std::string v;
    switch (p.key) {
      case 'u':
        v = std::to_string(vars.uid);
        break;
      case 'v':
        v = std::to_string(vars.uidvalidity);
        break;
      case 'f':
        v = vars.filename;
        break;
      case 'g':
        v = vars.guid;
        break;
      default:
        v = "%";
    }
    for (char m : p.modifiers) v = apply_modifier(m, std::move(v));
    std::string_view s = v;
    if (p.offset < 0) {
      auto back = static_cast<std::size_t>(-static_cast<long>(p.offset));
      if (s.size() > back) s.remove_prefix(s.size() - back);
    } else {
      s.remove_prefix(std::min(s.size(), static_cast<std::size_t>(p.offset)));
    }
    if (p.width == 0) {
      out += s;
    } else if (!p.zero_padding) {
      long width = p.width;
      if (width < 0) width = static_cast<long>(s.size()) + width;
      // A negative result means "all" in Dovecot (it becomes a huge size_t).
      out += width < 0 ? s : s.substr(0, static_cast<std::size_t>(width));
    } else {
      // %05d-like padding; never truncates.
      if (p.width > 0 && s.size() < static_cast<std::size_t>(p.width)) {
        out.append(static_cast<std::size_t>(p.width) - s.size(), '0');
      }
      out += s;
    }
  }
  return out;
}

}  // namespace popbox::store
