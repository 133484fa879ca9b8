// libFuzzer target for bench::BodyEnd (the end of a multi-line reply body,
// scanned without copying). Input: byte 0 = split seed, the rest = wire
// bytes. Checks that BodyEnd, fed in random blocks, stops exactly where
// core::DotDecoder (the one codec, fed whole) ends the data, never uses more
// than it was given, and counts the body's octets right.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "bench/body_end.hpp"
#include "core/dot_codec.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  popbox::fuzz::SplitRng rng(data[0]);
  std::string_view wire(reinterpret_cast<const char*>(data + 1), size - 1);

  popbox::core::DotDecoder dec;
  std::string ignored;
  std::size_t want = dec.decode(wire, ignored);

  popbox::bench::BodyEnd end;
  std::size_t used = 0;
  while (used < wire.size() && !end.done()) {
    std::string_view block = wire.substr(used, rng.next(wire.size() - used));
    std::size_t n = end.scan(block);
    FUZZ_CHECK(n <= block.size(), "scan used more than it was given");
    if (!end.done()) FUZZ_CHECK(n == block.size(), "scan stopped early without a terminator");
    used += n;
  }
  FUZZ_CHECK(end.done() == dec.done(), popbox::fuzz::escaped(wire));
  FUZZ_CHECK(used == want, popbox::fuzz::escaped(wire));
  if (end.done()) FUZZ_CHECK(end.octets() == used - 3, "octets before the terminator");
  return 0;
}
