// libFuzzer target for the PROXY protocol header parser (core/proxy_header.hpp),
// which reads bytes from a trusted proxy before anything else.
//
// Input layout: byte 0 = split seed, the rest = bytes from the peer.
// Checks, for the input fed whole and fed in random blocks:
//  * the verdict, the bytes used and the header do not depend on the split;
//  * the parser never takes more than it was given, takes everything while it
//    needs more, and takes nothing once it has answered;
//  * a complete header is at most limits::max_proxy_header bytes and ends
//    where its format says (v1: CRLF; v2: 16 + the announced length);
//  * addresses are reported only with the family the header named, and for
//    v2 only by the PROXY command (never by LOCAL).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/limits.hpp"
#include "core/proxy_header.hpp"
#include "fuzz_common.hpp"

using popbox::core::ProxyHeader;
using popbox::core::ProxyHeaderParser;
using popbox::fuzz::escaped;
using popbox::fuzz::SplitRng;
using Result = ProxyHeaderParser::Result;

namespace {

struct Parsed {
  Result result = Result::need_more;
  std::size_t used = 0;
  ProxyHeader header;
};

Parsed parse(std::string_view input, SplitRng* rng) {
  ProxyHeaderParser p;
  Parsed out;
  std::size_t pos = 0;
  while (pos < input.size() && out.result == Result::need_more) {
    std::size_t n = rng ? rng->next(input.size() - pos) : input.size() - pos;
    std::string_view block = input.substr(pos, n);
    std::size_t used = 0;
    out.result = p.feed(block, used);
    FUZZ_CHECK(used <= block.size(), "used more than given");
    if (out.result == Result::need_more) FUZZ_CHECK(used == block.size(), "stopped early");
    out.used += used;
    pos += n;
  }
  if (out.result != Result::need_more) {
    std::size_t used = 1;
    FUZZ_CHECK(p.feed("PROXY ", used) == out.result, "verdict changed after the answer");
    FUZZ_CHECK(used == 0, "consumed bytes after the answer");
  }
  if (out.result == Result::done) out.header = p.header();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint32_t seed = data[0];
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  Parsed whole = parse(input, nullptr);
  SplitRng rng(seed);
  Parsed split = parse(input, &rng);
  FUZZ_CHECK(whole.result == split.result, "verdict depends on the split: " + escaped(input));
  FUZZ_CHECK(whole.used == split.used, "length depends on the split: " + escaped(input));
  if (whole.result != Result::done) return 0;

  const ProxyHeader& h = whole.header;
  FUZZ_CHECK(split.header.source == h.source && split.header.source_port == h.source_port &&
                 split.header.destination == h.destination &&
                 split.header.has_addresses == h.has_addresses,
             "header depends on the split: " + escaped(input));
  FUZZ_CHECK(whole.used <= popbox::limits::max_proxy_header, "header longer than the limit");
  std::string_view header = input.substr(0, whole.used);
  if (h.version == 1) {
    FUZZ_CHECK(header.size() >= 8 && header.substr(0, 6) == "PROXY " &&
                   header.substr(header.size() - 2) == "\r\n",
               "v1 header not a CRLF line: " + escaped(header));
    FUZZ_CHECK(header.find('\n') == header.size() - 1, "v1 header spans lines");
  } else {
    FUZZ_CHECK(h.version == 2, "unknown version");
    FUZZ_CHECK(header.size() >= 16, "v2 header shorter than its fixed part");
    const std::size_t len =
        (static_cast<unsigned char>(header[14]) << 8) | static_cast<unsigned char>(header[15]);
    FUZZ_CHECK(header.size() == 16 + len, "v2 length does not match what was used");
  }
  if (h.has_addresses) {
    FUZZ_CHECK(h.source.v6 == h.destination.v6, "mixed address families");
    if (h.version == 1) {
      const std::string_view proto = header.substr(6, 5);
      FUZZ_CHECK(proto == "TCP4 " || proto == "TCP6 ", "addresses from " + escaped(header));
      FUZZ_CHECK(h.source.v6 == (proto == "TCP6 "),
                 "v1 family differs from the line: " + escaped(header));
    } else {
      // Only the PROXY command carries the client's addresses; LOCAL is the
      // proxy's own connection (a health check) and must not claim any.
      FUZZ_CHECK((header[12] & 0x0f) == 1, "addresses from a LOCAL header");
      const auto family = static_cast<unsigned char>(header[13]) >> 4;
      FUZZ_CHECK(family == (h.source.v6 ? 2 : 1), "v2 family differs from the header");
    }
  }
  return 0;
}
