// libFuzzer target for the courierpop3dsizelist parser
// (store/uidl_sources.hpp) and the UIDLs popbox adopts from it.
//
// Input: the file's bytes. Checks: the parser never crashes; it accepts
// only a "/2" or "/3" header (leading zeros allowed); every record has a
// usable BASE and a UIDL of the form "UID<n>" or "UID<n>-<uidv>" with n >= 1
// (always a valid RFC 1939 UIDL); records plus skipped lines never outnumber the input's lines; the
// UIDLs assign_uidls picks from them are valid and each shown once.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_store.hpp"
#include "store/uidl_sources.hpp"

using popbox::fuzz::escaped;
namespace sd = popbox::store::detail;

namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto list = sd::parse_courier_sizelist(text);
  if (!list) return 0;
  // "/<version> ...": the version is a decimal 2 or 3 (leading zeros allowed).
  std::string_view version = text.substr(1, text.find_first_not_of("0123456789", 1) - 1);
  while (version.size() > 1 && version[0] == '0') version.remove_prefix(1);
  FUZZ_CHECK(text[0] == '/' && (version == "2" || version == "3"),
             "accepted without a /2 or /3 header: " + escaped(text, 20));
  const std::size_t lines = popbox::fuzz::split_lines(text).size();
  FUZZ_CHECK(list->records.size() + list->bad_lines + 1 <= lines,
             "more records and bad lines than input lines");
  std::map<std::string_view, std::string_view> uidl_of;
  for (const auto& rec : list->records) {
    popbox::fuzz::check_base(rec.base);
    FUZZ_CHECK(sd::is_valid_uidl(rec.uidl), "invalid Courier UIDL " + escaped(rec.uidl));
    std::string_view u = rec.uidl;
    FUZZ_CHECK(u.starts_with("UID"), "Courier UIDL without UID: " + escaped(u));
    u.remove_prefix(3);
    std::string_view n = u.substr(0, u.find('-'));
    FUZZ_CHECK(all_digits(n) && n[0] != '0', "bad UID number in " + escaped(rec.uidl));
    if (n.size() < u.size()) {
      std::string_view v = u.substr(n.size() + 1);
      FUZZ_CHECK(all_digits(v) && v[0] != '0', "bad UIDVALIDITY in " + escaped(rec.uidl));
    }
    uidl_of.emplace(rec.base, rec.uidl);
  }
  std::vector<sd::UidlCandidate> msgs;
  for (const auto& [base, uidl] : uidl_of) {
    msgs.push_back({base, {}, uidl, popbox::store::UidlSource::courier});
  }
  popbox::fuzz::check_assignment(msgs);
  return 0;
}
