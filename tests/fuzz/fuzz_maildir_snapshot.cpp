// libFuzzer target for the warm snapshot parser and writer
// (store/maildir_snapshot.hpp, "popbox-snapshot").
//
// Input: one mode byte, one count byte, then text. Mode bit 0 set: the text
// is the header, stamps and entry lines, and the harness appends a trailer
// with the right SHA-256 prefix (and, with bit 1, the right entry count;
// else the count byte), so the fuzzer gets past the checksum; clear: the
// text is parsed as it is. Checks: parsing never crashes or over-reserves;
// every entry has a usable name (no '/', not a dotfile, a valid BASE), a
// valid UIDL, and a RETR size between the file size and twice it plus 2.
// Round trip: format(parse(x)) parses to the same, and is a fixed point.

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "fuzz_store.hpp"
#include "store/maildir_name.hpp"
#include "store/maildir_snapshot.hpp"

using popbox::fuzz::escaped;
namespace sd = popbox::store::detail;

namespace {

std::string sha_prefix(std::string_view data) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), d, &len, EVP_sha256(), nullptr);
  char hex[17];
  for (int i = 0; i < 8; ++i) std::snprintf(hex + 2 * i, 3, "%02x", d[i]);
  return std::string(hex, 16);
}

bool same(const sd::Snapshot& a, const sd::Snapshot& b) {
  if (!(a.stamps == b.stamps) || a.entries.size() != b.entries.size()) return false;
  for (std::size_t i = 0; i < a.entries.size(); ++i) {
    const auto& x = a.entries[i];
    const auto& y = b.entries[i];
    if (x.file.name != y.file.name || x.file.base_len != y.file.base_len ||
        x.file.dir != y.file.dir || x.file.file_size != y.file.file_size ||
        x.file.mtime_ns != y.file.mtime_ns || x.crlf_size != y.crlf_size || x.uidl != y.uidl) {
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
    lines = lines > 1 ? lines - 2 : 0;  // the header and stamps lines
    const std::uint64_t count = (mode & 2) ? lines : data[1];
    text += "end " + std::to_string(count) + " " + sha_prefix(text) + "\n";
  }
  auto parsed = sd::parse_snapshot(text);
  if (!parsed) return 0;
  FUZZ_CHECK(parsed->entries.size() <= text.size() / 12,
             "snapshot claims " + std::to_string(parsed->entries.size()) + " entries in " +
                 std::to_string(text.size()) + " octets");
  for (const auto& e : parsed->entries) {
    popbox::fuzz::check_base(e.file.base());
    FUZZ_CHECK(e.file.name.find('/') == std::string::npos, "slash in " + escaped(e.file.name));
    FUZZ_CHECK(!sd::is_ignored_name(e.file.name), "ignored name " + escaped(e.file.name));
    FUZZ_CHECK(sd::is_valid_uidl(e.uidl), "invalid UIDL " + escaped(e.uidl));
    FUZZ_CHECK(e.crlf_size >= e.file.file_size && e.crlf_size <= 2 * e.file.file_size + 2,
               "impossible RETR size for " + escaped(e.file.name));
  }
  const std::string written = sd::format_snapshot(*parsed);
  auto again = sd::parse_snapshot(written);
  FUZZ_CHECK(again.has_value(), "written snapshot does not parse: " + escaped(written));
  FUZZ_CHECK(same(*parsed, *again), "round trip changed the snapshot");
  FUZZ_CHECK(sd::format_snapshot(*again) == written, "format is not a fixed point");
  return 0;
}
