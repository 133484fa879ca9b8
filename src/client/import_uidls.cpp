// Parsers for the UIDL files of fetchmail, getmail and mpop.
#include "client/import_uidls.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <unordered_set>

namespace popbox::client {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// A UIDL as RFC 1939 allows it: 1 to 70 characters 0x21..0x7E.
bool valid_uidl(std::string_view u) {
  if (u.empty() || u.size() > 70) return false;
  return std::all_of(u.begin(), u.end(), [](char c) {
    auto b = static_cast<unsigned char>(c);
    return b >= 0x21 && b <= 0x7e;
  });
}

// Splits text into lines (LF; a CR before it is dropped), calling f(line).
template <class F>
void for_each_line(std::string_view text, F&& f) {
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    f(line);
  }
}

class Collector {
 public:
  explicit Collector(ImportedUidls& out) : out_(out) {}
  void add(std::string_view uidl) {
    if (!valid_uidl(uidl)) {
      ++out_.malformed;
      return;
    }
    if (seen_.emplace(uidl).second) out_.uidls.emplace_back(uidl);
  }

 private:
  ImportedUidls& out_;
  std::unordered_set<std::string> seen_;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<ImportFormat> parse_import_format(std::string_view name) {
  if (name == "fetchmail") return ImportFormat::fetchmail;
  if (name == "getmail") return ImportFormat::getmail;
  if (name == "mpop") return ImportFormat::mpop;
  return std::nullopt;
}

ImportedUidls parse_fetchmail_ids(std::string_view text, std::string_view host,
                                  std::string_view user) {
  ImportedUidls out;
  Collector c(out);
  for_each_line(text, [&](std::string_view line) {
    line = trim(line);
    if (line.empty()) return;
    std::string_view who, rest;
    if (line.front() == '"') {
      // "user name"@host UIDL
      auto close = line.find('"', 1);
      if (close == std::string_view::npos || close + 1 >= line.size() || line[close + 1] != '@') {
        ++out.malformed;
        return;
      }
      who = line.substr(1, close - 1);
      rest = line.substr(close + 2);
    } else {
      // user@host UIDL: the user may hold '@' itself, the host cannot.
      auto sp = line.find(' ');
      auto at = line.substr(0, sp).rfind('@');
      if (at == std::string_view::npos) {
        ++out.malformed;
        return;
      }
      who = line.substr(0, at);
      rest = line.substr(at + 1);
    }
    auto sp = rest.find(' ');
    if (sp == std::string_view::npos || who.empty()) {
      ++out.malformed;
      return;
    }
    std::string_view server = rest.substr(0, sp);
    std::string_view uidl = trim(rest.substr(sp + 1));
    if (server.empty()) {
      ++out.malformed;
      return;
    }
    if (who != user || !iequals(server, host)) {
      ++out.other_accounts;
      return;
    }
    c.add(uidl);
  });
  return out;
}

ImportedUidls parse_getmail_oldmail(std::string_view text) {
  ImportedUidls out;
  Collector c(out);
  for_each_line(text, [&](std::string_view line) {
    if (line.empty()) return;
    auto nul = line.find('\0');
    if (nul == std::string_view::npos) {
      ++out.malformed;
      return;
    }
    std::string_view stamp = line.substr(nul + 1);
    long long t = 0;
    auto [p, ec] = std::from_chars(stamp.data(), stamp.data() + stamp.size(), t);
    if (ec != std::errc() || p != stamp.data() + stamp.size()) {
      ++out.malformed;
      return;
    }
    c.add(line.substr(0, nul));
  });
  return out;
}

ImportedUidls parse_mpop_uidls(std::string_view text, std::string_view host,
                               std::string_view user) {
  ImportedUidls out;
  Collector c(out);
  enum class In { none, ours, other } in = In::none;
  std::size_t left = 0;
  for_each_line(text, [&](std::string_view line) {
    if (line.empty() || line.front() == '#') return;
    if (line.front() == ' ') {
      // " COUNT HOST USER": the user is the rest of the line.
      std::string_view h = line.substr(1);
      auto sp1 = h.find(' ');
      if (sp1 == std::string_view::npos) sp1 = h.size();
      std::size_t count = 0;
      auto [p, ec] = std::from_chars(h.data(), h.data() + sp1, count);
      auto sp2 = sp1 == h.size() ? std::string_view::npos : h.find(' ', sp1 + 1);
      if (ec != std::errc() || p != h.data() + sp1 || sp2 == std::string_view::npos ||
          sp2 == sp1 + 1 || sp2 + 1 >= h.size()) {
        ++out.malformed;
        in = In::none;
        return;
      }
      std::string_view server = h.substr(sp1 + 1, sp2 - sp1 - 1);
      std::string_view who = h.substr(sp2 + 1);
      in = iequals(server, host) && who == user ? In::ours : In::other;
      left = count;
      return;
    }
    if (in == In::none || left == 0) {
      ++out.malformed;  // a UIDL outside a block, or more than its count
      return;
    }
    --left;
    if (in == In::ours) {
      c.add(line);
    } else {
      ++out.other_accounts;
    }
  });
  return out;
}

ImportedUidls parse_imported_uidls(ImportFormat format, std::string_view text,
                                   std::string_view host, std::string_view user) {
  switch (format) {
    case ImportFormat::fetchmail:
      return parse_fetchmail_ids(text, host, user);
    case ImportFormat::getmail:
      return parse_getmail_oldmail(text);
    case ImportFormat::mpop:
      return parse_mpop_uidls(text, host, user);
  }
  return {};
}

bool getmail_name_mismatch(std::string_view name, std::string_view host, std::string_view user) {
  constexpr std::string_view prefix = "oldmail-";
  if (name.substr(0, prefix.size()) != prefix) return false;
  // getmail replaces characters a file name should not hold ('/', ':', ...)
  // with '-': compare with every such character made '-' on both sides.
  auto norm = [](std::string_view s) {
    std::string r(s);
    for (char& ch : r) {
      auto b = static_cast<unsigned char>(ch);
      if (!std::isalnum(b) && ch != '.' && ch != '_' && ch != '@' && ch != '+') ch = '-';
    }
    return r;
  };
  std::string n = norm(name.substr(prefix.size()));
  std::string head = norm(host) + "-";
  std::string tail(1, '-');
  tail += norm(user);
  if (n.size() < head.size() + tail.size() + 1) return true;
  if (!iequals(std::string_view(n).substr(0, head.size()), head)) return true;
  if (n.substr(n.size() - tail.size()) != tail) return true;
  std::string_view port(n.data() + head.size(), n.size() - head.size() - tail.size());
  return !std::all_of(port.begin(), port.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

}  // namespace popbox::client
