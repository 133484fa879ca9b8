// Reading dovecot-uidlist and courierpop3dsizelist as their servers read
// them (Dovecot's maildir-uidlist.c, Courier's pop3dserver.c), keeping only
// what decides a POP3 UIDL.
#include "store/uidl_sources.hpp"

#include <charconv>

#include "store/file_io.hpp"
#include "store/maildir_name.hpp"

namespace popbox::store::detail {
namespace {

// Splits `text` into lines; calls fn(line) for each line ended by '\n' (a
// preceding '\r' removed) and returns true when a last, unterminated piece
// was left over.
template <typename Fn>
bool for_each_line(std::string_view text, Fn&& fn) {
  while (!text.empty()) {
    std::size_t eol = text.find('\n');
    if (eol == std::string_view::npos) return true;
    std::string_view line = text.substr(0, eol);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    fn(line);
    text.remove_prefix(eol + 1);
  }
  return false;
}

// Reads a decimal number at the front of `s` and advances past it.
template <typename T>
bool take_number(std::string_view& s, T& value) {
  if (s.empty() || s[0] < '0' || s[0] > '9') return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc()) return false;
  s.remove_prefix(static_cast<std::size_t>(ptr - s.data()));
  return true;
}

void skip_spaces(std::string_view& s) {
  while (!s.empty() && s[0] == ' ') s.remove_prefix(1);
}

// "V123 N45 Gabc..." -> uidvalidity and next uid; other keys are ignored.
bool parse_v3_header(std::string_view s, DovecotUidlist& out) {
  while (!s.empty()) {
    char key = s[0];
    s.remove_prefix(1);
    std::string_view value = s.substr(0, s.find(' '));
    s.remove_prefix(value.size());
    skip_spaces(s);
    std::uint32_t* target = key == 'V' ? &out.uidvalidity : key == 'N' ? &out.next_uid : nullptr;
    if (target == nullptr) continue;
    if (!take_number(value, *target) || !value.empty()) return false;
  }
  return true;
}

// One v3 record: "<uid> [<key><value> ...] :<filename>"; v1: "<uid> <filename>".
std::optional<DovecotRecord> parse_dovecot_record(std::string_view s, unsigned version) {
  DovecotRecord rec;
  if (!take_number(s, rec.uid) || rec.uid == 0 || rec.uid == UINT32_MAX) return std::nullopt;
  if (s.empty() || s[0] != ' ') return std::nullopt;
  skip_spaces(s);
  if (version == 3) {
    while (!s.empty() && s[0] != ':') {
      std::string_view field = s.substr(0, s.find(' '));
      s.remove_prefix(field.size());
      skip_spaces(s);
      // Keys are A-Z; Dovecot drops others and keeps the line.
      if (field[0] == 'P') rec.pop3_uidl = std::string(field.substr(1));
      if (field[0] == 'G') rec.guid = field.substr(1);
    }
    if (s.empty()) return std::nullopt;
    s.remove_prefix(1);  // ':'
  }
  if (s.empty() || s.find('/') != std::string_view::npos) return std::nullopt;
  rec.base = base_of(s);
  if (!valid_base(rec.base)) return std::nullopt;
  return rec;
}

std::optional<CourierRecord> parse_courier_record(std::string_view line) {
  // "<filename> <size> <uid>:<uidv>[:<utf8>]"; the name may hold spaces.
  std::size_t last = line.rfind(' ');
  if (last == std::string_view::npos || last == 0) return std::nullopt;
  std::size_t prev = line.rfind(' ', last - 1);
  if (prev == std::string_view::npos || prev == 0) return std::nullopt;
  std::string_view name = line.substr(0, prev);
  std::string_view size_part = line.substr(prev + 1, last - prev - 1);
  std::string_view uid_part = line.substr(last + 1);
  std::uint64_t size = 0, uid = 0, uidv = 0, utf8 = 0;
  if (!take_number(size_part, size) || !size_part.empty()) return std::nullopt;
  if (!take_number(uid_part, uid) || uid_part.empty() || uid_part[0] != ':') return std::nullopt;
  uid_part.remove_prefix(1);
  if (!take_number(uid_part, uidv)) return std::nullopt;
  if (!uid_part.empty()) {
    if (uid_part[0] != ':') return std::nullopt;
    uid_part.remove_prefix(1);
    if (!take_number(uid_part, utf8) || !uid_part.empty()) return std::nullopt;
  }
  if (uid == 0) return std::nullopt;  // never written by format 2 or 3
  CourierRecord rec;
  rec.base = base_of(name);
  if (!valid_base(rec.base)) return std::nullopt;
  rec.uidl = "UID" + std::to_string(uid);
  if (uidv != 0) rec.uidl += "-" + std::to_string(uidv);
  return rec;
}

// Parses every line of `body` with `parse` into out.records; lines it
// refuses, and a torn last line, count as out.bad_lines.
template <class List, class Parse>
void collect_records(std::string_view body, List& out, Parse parse) {
  bool torn = for_each_line(body, [&](std::string_view line) {
    if (auto rec = parse(line)) {
      out.records.push_back(std::move(*rec));
    } else {
      ++out.bad_lines;
    }
  });
  if (torn) ++out.bad_lines;
}

}  // namespace

std::optional<DovecotUidlist> parse_dovecot_uidlist(std::string_view text) {
  std::size_t eol = text.find('\n');
  if (eol == std::string_view::npos) return std::nullopt;
  std::string_view header = text.substr(0, eol);
  if (!header.empty() && header.back() == '\r') header.remove_suffix(1);
  DovecotUidlist out;
  if (header.size() < 2 || header[1] != ' ') return std::nullopt;
  std::string_view rest = header.substr(2);
  if (header[0] == '3') {
    out.version = 3;
    if (!parse_v3_header(rest, out)) return std::nullopt;
  } else if (header[0] == '1') {
    out.version = 1;
    if (!take_number(rest, out.uidvalidity) || rest.empty() || rest[0] != ' ') return std::nullopt;
    skip_spaces(rest);
    if (!take_number(rest, out.next_uid)) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (out.uidvalidity == 0 || out.next_uid == 0) return std::nullopt;
  collect_records(text.substr(eol + 1), out,
                  [&](std::string_view line) { return parse_dovecot_record(line, out.version); });
  return out;
}

std::string dovecot_uidl(const DovecotUidlist& list, const DovecotRecord& rec,
                         const UidlFormat& format) {
  if (rec.pop3_uidl) return rec.pop3_uidl->empty() ? rec.base : *rec.pop3_uidl;
  DovecotUidlVars vars;
  vars.uid = rec.uid;
  vars.uidvalidity = list.uidvalidity;
  vars.filename = rec.base;
  vars.guid = rec.guid.empty() ? std::string_view(rec.base) : std::string_view(rec.guid);
  return format.expand(vars);
}

std::optional<CourierSizelist> parse_courier_sizelist(std::string_view text) {
  std::size_t eol = text.find('\n');
  if (eol == std::string_view::npos) return std::nullopt;
  std::string_view header = text.substr(0, eol);
  // "/<version> <next uid> [<uidv>]", version 2 or 3.
  if (header.size() < 2 || header[0] != '/') return std::nullopt;
  header.remove_prefix(1);
  unsigned version = 0;
  std::uint64_t next_uid = 0;
  if (!take_number(header, version) || (version != 2 && version != 3)) return std::nullopt;
  skip_spaces(header);
  if (!take_number(header, next_uid)) return std::nullopt;
  CourierSizelist out;
  collect_records(text.substr(eol + 1), out, parse_courier_record);
  return out;
}

}  // namespace popbox::store::detail
