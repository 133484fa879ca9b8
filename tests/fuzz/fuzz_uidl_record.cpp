// libFuzzer target for the popbox-uidls parser and writer
// (store/uidl_record.hpp).
//
// Input: the file's bytes. Checks: parsing never crashes; every entry has a
// valid RFC 1939 UIDL and a usable BASE; entries plus skipped lines never
// outnumber the input's lines; ends_with_newline is true exactly when the
// text is empty or ends in '\n'. Round trip: the file written from the
// parsed entries parses to the same entries and "closed" state with no bad
// line, and so does the old text with one more appended line. The recorded
// UIDLs then go through assign_uidls as a session would use them (the first
// record for a BASE wins; half of the bases "gone").

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_store.hpp"
#include "store/uidl_record.hpp"

using popbox::fuzz::escaped;
namespace sd = popbox::store::detail;

namespace {

bool same_entries(const std::vector<sd::RecordedUidl>& a, const std::vector<sd::RecordedUidl>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].base != b[i].base || a[i].uidl != b[i].uidl) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const sd::RecordedUidls parsed = sd::parse_recorded_uidls(text);
  FUZZ_CHECK(parsed.exists, "parsed text not marked as existing");
  FUZZ_CHECK(parsed.ends_with_newline == (text.empty() || text.back() == '\n'),
             "ends_with_newline wrong");
  const std::size_t lines = popbox::fuzz::split_lines(text).size();
  FUZZ_CHECK(parsed.entries.size() + parsed.bad_lines <= lines,
             "more entries and bad lines than input lines");
  for (const auto& e : parsed.entries) {
    popbox::fuzz::check_base(e.base);
    FUZZ_CHECK(sd::is_valid_uidl(e.uidl), "invalid recorded UIDL " + escaped(e.uidl));
  }

  // write(parse(x)) parses equal.
  const std::string written = sd::format_recorded_uidls(parsed.entries, parsed.closed, 1234567890);
  const sd::RecordedUidls again = sd::parse_recorded_uidls(written);
  FUZZ_CHECK(same_entries(parsed.entries, again.entries), "round trip changed the entries");
  FUZZ_CHECK(again.closed == parsed.closed, "round trip changed closed");
  FUZZ_CHECK(again.bad_lines == 0 && again.ends_with_newline, "written file has a bad line");

  // An append (as a later session does it) adds exactly that entry.
  if (!parsed.entries.empty()) {
    const auto& e = parsed.entries.front();
    std::string appended(text);
    if (!parsed.ends_with_newline) appended += '\n';
    appended += sd::format_recorded_uidl(e.base + "x", e.uidl);
    const sd::RecordedUidls more = sd::parse_recorded_uidls(appended);
    // (A torn last line, completed by the '\n' put before the append, may
    // be read as an entry too: it must be well formed to count.)
    FUZZ_CHECK(more.entries.size() == parsed.entries.size() + 1 ||
                   (!parsed.ends_with_newline && more.entries.size() == parsed.entries.size() + 2),
               "appended entry not read");
    FUZZ_CHECK(more.entries.back().base == e.base + "x" && more.entries.back().uidl == e.uidl,
               "appended entry read differently");
  }

  // As a session uses the record: the first line for a BASE wins; every
  // other BASE is "gone".
  std::map<std::string_view, std::string_view> first;
  for (const auto& e : parsed.entries) first.emplace(e.base, e.uidl);
  std::vector<sd::UidlCandidate> msgs;
  std::vector<std::string_view> gone;
  bool keep = true;
  for (const auto& [base, uidl] : first) {
    if (keep) {
      msgs.push_back({base, uidl, {}, popbox::store::UidlSource::name});
    } else {
      gone.push_back(uidl);
    }
    keep = !keep;
  }
  popbox::fuzz::check_assignment(msgs, gone);
  return 0;
}
