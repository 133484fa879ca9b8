// libFuzzer target for the Maildir size index parser and writer
// (store/maildir_index.hpp, "popbox-index").
//
// Input: one mode byte, then text. Mode bit 0 set: the text is taken as the
// header and entry lines and the harness appends a trailer with the right
// checksum (and, with bit 1, the right entry count; else the count is the
// second byte), so the fuzzer gets past the FNV-1a check; clear: the text is
// parsed as it is. Checks: parsing never crashes or over-reserves; a parsed
// index never claims more entries than the input could hold (a line is at
// least 8 octets); every entry has a usable BASE and a RETR size between the
// file size and twice it plus 2. Round trip: format(parse(x)) parses equal,
// and format is a fixed point (format(parse(format(e))) == format(e)).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_store.hpp"
#include "store/maildir_index.hpp"

using popbox::fuzz::escaped;
namespace sd = popbox::store::detail;

namespace {

// The index checksum, written out again so the harness can forge trailers.
std::uint64_t fnv1a(std::string_view data) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

bool same(const std::vector<sd::IndexEntry>& a, const std::vector<sd::IndexEntry>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].base != b[i].base || a[i].file_size != b[i].file_size ||
        a[i].mtime_ns != b[i].mtime_ns || a[i].crlf_size != b[i].crlf_size) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t mode = data[0];
  std::string text(reinterpret_cast<const char*>(data) + 2, size - 2);
  if (mode & 1) {
    std::size_t lines = 0;
    for (char c : text) lines += c == '\n';
    lines = lines > 0 ? lines - 1 : 0;  // the header line
    const std::uint64_t count = (mode & 2) ? lines : data[1];
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a(text)));
    text += "end " + std::to_string(count) + " " + hex + "\n";
  }
  auto parsed = sd::parse_index(text);
  if (!parsed) return 0;
  FUZZ_CHECK(parsed->size() <= text.size() / 8, "index claims " + std::to_string(parsed->size()) +
                                                    " entries in " + std::to_string(text.size()) +
                                                    " octets");
  for (const auto& e : *parsed) {
    popbox::fuzz::check_base(e.base);
    FUZZ_CHECK(e.crlf_size >= e.file_size && e.crlf_size <= 2 * e.file_size + 2,
               "impossible RETR size for " + escaped(e.base));
  }
  const std::string written = sd::format_index(*parsed);
  auto again = sd::parse_index(written);
  FUZZ_CHECK(again.has_value(), "written index does not parse: " + escaped(written));
  FUZZ_CHECK(same(*parsed, *again), "round trip changed the entries");
  FUZZ_CHECK(sd::format_index(*again) == written, "format is not a fixed point");
  return 0;
}
