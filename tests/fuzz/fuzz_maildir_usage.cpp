// libFuzzer target for the kept usage count's parser and writer
// (store/maildir_usage.hpp, "popbox-usage", which the Maildir's owner can
// write).
//
// Input: one mode byte, then text. Mode bit 0 set: the text is taken as the
// body line and the harness frames it with this boot's header and a
// correct checksum, so the fuzzer gets past the FNV-1a check; with bit 1
// the body is prefixed with this boot's "boot=" field. Clear: the text is
// parsed as it is. Checks: parsing never crashes; a parsed count written
// again parses to the same count, the writer's text is a fixed point, and
// a pending text never parses.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.hpp"
#include "store/checked_text.hpp"
#include "store/maildir_usage.hpp"

namespace sd = popbox::store::detail;
using popbox::store::Usage;

namespace {

// This boot's "boot=<id>" field, taken from the writer's own text.
std::string boot_field() {
  std::string t = sd::usage_text(Usage{}, false);
  std::size_t at = t.find("boot=");
  return t.substr(at, t.find(' ', at) - at);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (mode & 1) {
    std::string framed = "popbox-usage 1\n";
    if (mode & 2) framed += boot_field() + " ";
    framed += text;
    sd::close_checked(framed, 1, sd::fnv1a);
    text = std::move(framed);
  }
  Usage u{7, 7};
  if (!sd::parse_usage(text, u)) {
    FUZZ_CHECK(u == (Usage{7, 7}), "a refused text changed the count");
    return 0;
  }
  const std::string written = sd::usage_text(u, false);
  Usage again;
  FUZZ_CHECK(sd::parse_usage(written, again), "written count does not parse: " + written);
  FUZZ_CHECK(again == u, "round trip changed the count");
  FUZZ_CHECK(sd::usage_text(again, false) == written, "writer is not a fixed point");
  Usage pending;
  FUZZ_CHECK(!sd::parse_usage(sd::usage_text(u, true), pending), "a pending count parsed");
  return 0;
}
