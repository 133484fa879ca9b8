// libFuzzer target for the streaming dot/CRLF codec (core/dot_codec.hpp).
//
// Input layout: byte 0 = mode, byte 1 = TOP line limit, byte 2 = split seed,
// the rest = a stored message (or, in decoder mode, arbitrary wire bytes).
//   mode bit 0: encode with a TOP body-line limit (byte 1)
//   mode bit 1: decoder mode: feed the rest to DotDecoder as untrusted input
//
// Encoder mode checks, for a message fed in random blocks:
//  * the output does not depend on how the message was split into blocks;
//  * the wire form ends with the terminator and holds no earlier "\r\n.\r\n",
//    every LF is part of CRLF, every line starting with '.' is stuffed;
//  * DotDecoder (fed in other random blocks) gives back exactly the CRLF
//    form of the message (or of its TOP part), stops right after the
//    terminator, and without TOP its size equals CrlfSizer's total.
// Decoder mode checks that DotDecoder is split-invariant on any input and
// ends the data only at CRLF "." CRLF (never at a bare-LF dot line).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/dot_codec.hpp"
#include "fuzz_common.hpp"

using popbox::core::CrlfSizer;
using popbox::core::DotDecoder;
using popbox::core::DotEncoder;
using popbox::fuzz::crlf_normalised;
using popbox::fuzz::escaped;
using popbox::fuzz::SplitRng;
using popbox::fuzz::top_reference;

namespace {

struct Decoded {
  std::string out;
  std::size_t used = 0;
  bool done = false;
};

Decoded decode_split(std::string_view wire, SplitRng* rng) {
  Decoded d;
  DotDecoder dec;
  std::size_t pos = 0;
  while (pos < wire.size() && !dec.done()) {
    std::size_t n = rng ? rng->next(wire.size() - pos) : wire.size() - pos;
    std::string_view block = wire.substr(pos, n);
    std::size_t used = dec.decode(block, d.out);
    FUZZ_CHECK(used <= block.size(), "decode used more than it was given");
    if (!dec.done()) FUZZ_CHECK(used == block.size(), "decode stopped early without a terminator");
    d.used += used;
    pos += n;
  }
  d.done = dec.done();
  return d;
}

std::string encode_split(std::string_view msg, std::optional<std::uint64_t> top, SplitRng* rng) {
  DotEncoder enc = top ? DotEncoder(*top) : DotEncoder();
  std::string out;
  std::size_t pos = 0;
  while (pos < msg.size()) {
    std::size_t n = rng ? rng->next(msg.size() - pos) : msg.size() - pos;
    bool more = enc.encode(msg.substr(pos, n), out);
    pos += n;
    if (!more) {
      FUZZ_CHECK(top.has_value(), "encode() returned false without a TOP limit");
      break;
    }
  }
  enc.finish(out);
  return out;
}

void check_wire_form(std::string_view wire) {
  FUZZ_CHECK(wire.size() >= 3 && wire.substr(wire.size() - 3) == ".\r\n",
             "no terminator: " + escaped(wire));
  if (wire.size() > 3) {
    FUZZ_CHECK(wire.substr(0, 3) != ".\r\n", "terminator at the start: " + escaped(wire));
    FUZZ_CHECK(wire.find("\r\n.\r\n") == wire.size() - 5,
               "terminator before the end: " + escaped(wire));
  }
  for (std::size_t i = 0; i < wire.size(); ++i) {
    if (wire[i] == '\n') FUZZ_CHECK(i > 0 && wire[i - 1] == '\r', "bare LF on the wire");
  }
  // Every line but the terminator that starts with '.' carries the stuffed dot.
  std::size_t pos = 0;
  while (pos + 3 < wire.size()) {
    if (wire[pos] == '.') {
      FUZZ_CHECK(pos + 1 < wire.size() && wire[pos + 1] == '.',
                 "unstuffed dot line at " + std::to_string(pos) + ": " + escaped(wire));
    }
    std::size_t lf = wire.find('\n', pos);
    if (lf == std::string_view::npos) break;
    pos = lf + 1;
  }
}

void fuzz_encoder(std::string_view msg, bool use_top, std::uint64_t limit, std::uint32_t seed) {
  std::optional<std::uint64_t> top;
  if (use_top) top = limit;

  SplitRng rng(seed);
  const std::string wire = encode_split(msg, top, &rng);
  const std::string wire_whole = encode_split(msg, top, nullptr);
  FUZZ_CHECK(wire == wire_whole,
             "encoding depends on block splits: " + escaped(wire) + " vs " + escaped(wire_whole));
  check_wire_form(wire);

  const std::string normalised = crlf_normalised(msg);
  const std::string expected = top ? top_reference(normalised, *top) : normalised;

  // Something follows the body on a real connection; it must be left alone.
  const std::string follow = "+OK next reply\r\n";
  const std::string stream = wire + follow;
  SplitRng rng2(seed ^ 0x5a5a5a5au);
  Decoded d = decode_split(stream, &rng2);
  FUZZ_CHECK(d.done, "decoder missed the terminator: " + escaped(wire));
  FUZZ_CHECK(d.used == wire.size(), "decoder stopped at " + std::to_string(d.used) + " not " +
                                        std::to_string(wire.size()));
  FUZZ_CHECK(d.out == expected,
             "round trip differs: got " + escaped(d.out) + " want " + escaped(expected));

  if (!top) {
    CrlfSizer sizer;
    SplitRng rng3(seed + 7);
    std::size_t pos = 0;
    while (pos < msg.size()) {
      std::size_t n = rng3.next(msg.size() - pos);
      sizer.add(msg.substr(pos, n));
      pos += n;
    }
    FUZZ_CHECK(sizer.total() == d.out.size(), "CrlfSizer says " + std::to_string(sizer.total()) +
                                                  ", RETR sends " + std::to_string(d.out.size()));
  }
}

void fuzz_decoder(std::string_view wire, std::uint32_t seed) {
  Decoded whole = decode_split(wire, nullptr);
  SplitRng rng(seed);
  Decoded split = decode_split(wire, &rng);
  FUZZ_CHECK(whole.out == split.out && whole.used == split.used && whole.done == split.done,
             "decoder depends on block splits: " + escaped(wire));
  FUZZ_CHECK(whole.out.size() <= whole.used, "decoder produced more than it consumed");
  if (whole.done) {
    // Only CRLF "." CRLF (or "." CRLF at the very start) ends the data.
    std::string_view seen = wire.substr(0, whole.used);
    FUZZ_CHECK(seen == ".\r\n" || seen.ends_with("\r\n.\r\n"),
               "end of data without CRLF . CRLF: " + escaped(seen));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::uint8_t mode = data[0];
  const std::uint64_t limit = data[1];
  const std::uint32_t seed = data[2];
  std::string_view rest(reinterpret_cast<const char*>(data) + 3, size - 3);
  if (mode & 2) {
    fuzz_decoder(rest, seed);
  } else {
    fuzz_encoder(rest, mode & 1, limit, seed);
  }
  return 0;
}
