// libFuzzer target for the dovecot-uidlist parser (store/uidl_sources.hpp)
// and the UIDLs popbox adopts from it.
//
// Input: the file's bytes. Checks: the parser never crashes; a parsed file
// has version 1 or 3 and a non-zero UIDVALIDITY and next UID; every record
// has a UID in 1..2^32-2 and a usable BASE, and records plus skipped lines
// never outnumber the input's lines. The UIDL Dovecot showed is then
// computed with a few pop3_uidl_formats, and the UIDLs assign_uidls picks
// from them are valid RFC 1939 UIDLs, each shown once.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_store.hpp"
#include "store/uidl_format.hpp"
#include "store/uidl_sources.hpp"

using popbox::fuzz::escaped;
namespace sd = popbox::store::detail;

namespace {

const popbox::store::UidlFormat& format_for(std::size_t size) {
  static const popbox::store::UidlFormat formats[] = {
      popbox::store::UidlFormat(), popbox::store::UidlFormat("%f"), popbox::store::UidlFormat("%g"),
      popbox::store::UidlFormat("%v.%u"), popbox::store::UidlFormat("%-10.3f%08Xu")};
  return formats[size % std::size(formats)];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto list = sd::parse_dovecot_uidlist(text);
  if (!list) return 0;
  FUZZ_CHECK(list->version == 1 || list->version == 3, "version " + std::to_string(list->version));
  FUZZ_CHECK(list->uidvalidity != 0 && list->next_uid != 0, "zero UIDVALIDITY or next UID");
  const std::size_t lines = popbox::fuzz::split_lines(text).size();
  FUZZ_CHECK(list->records.size() + list->bad_lines + 1 <= lines,
             "more records and bad lines than input lines");
  // Like Dovecot, a later line for a BASE wins.
  std::map<std::string_view, std::string> uidl_of;
  for (const auto& rec : list->records) {
    FUZZ_CHECK(rec.uid != 0 && rec.uid != UINT32_MAX, "UID " + std::to_string(rec.uid));
    popbox::fuzz::check_base(rec.base);
    FUZZ_CHECK(rec.base.find(':') == std::string::npos, "BASE with ':' " + escaped(rec.base));
    if (list->version == 1) {
      FUZZ_CHECK(!rec.pop3_uidl && rec.guid.empty(), "v1 record with v3 fields");
    }
    std::string uidl = sd::dovecot_uidl(*list, rec, format_for(size));
    if (rec.pop3_uidl) {
      FUZZ_CHECK(uidl == (rec.pop3_uidl->empty() ? rec.base : *rec.pop3_uidl),
                 "saved POP3 UIDL not used: " + escaped(uidl));
    }
    uidl_of[rec.base] = std::move(uidl);
  }
  std::vector<sd::UidlCandidate> msgs;
  for (const auto& [base, uidl] : uidl_of) {
    msgs.push_back({base, {}, uidl, popbox::store::UidlSource::dovecot});
  }
  popbox::fuzz::check_assignment(msgs);
  return 0;
}
