// libFuzzer target for the PostgreSQL store's delivery core
// (store/postgres/wire_form.hpp): the input is a message as an MTA hands it
// over (any line ends).
//
// Input layout: byte 0 = split seed, byte 1 = chunk size - 1, the rest =
// the message.
//
// Invariants:
//  * the chunks joined are the wire form (fuzz_common's crlf_normalised),
//    whatever the blocks and the chunk size;
//  * every chunk but the last is exactly the chunk size, none is empty;
//  * size() is the joined length and what core::CrlfSizer says RETR sends.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/dot_codec.hpp"
#include "fuzz_common.hpp"
#include "store/postgres/wire_form.hpp"

using popbox::fuzz::crlf_normalised;
using popbox::fuzz::escaped;
using popbox::fuzz::SplitRng;
using popbox::store::pg::WireChunker;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t chunk = std::size_t{data[1]} + 1;
  std::string_view msg(reinterpret_cast<const char*>(data) + 2, size - 2);
  std::vector<std::string> chunks;
  WireChunker c(chunk, [&](std::string_view s) {
    chunks.emplace_back(s);
    return std::error_code{};
  });
  SplitRng rng(data[0]);
  for (std::size_t pos = 0; pos < msg.size();) {
    const std::size_t n = rng.next(msg.size() - pos);
    FUZZ_CHECK(!c.write(msg.substr(pos, n)), "a sink without errors failed");
    pos += n;
  }
  FUZZ_CHECK(!c.finish(), "a sink without errors failed");
  std::string joined;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    FUZZ_CHECK(!chunks[i].empty(), "an empty chunk");
    if (i + 1 < chunks.size()) FUZZ_CHECK(chunks[i].size() == chunk, "a short chunk inside");
    joined += chunks[i];
  }
  const std::string want = crlf_normalised(msg);
  FUZZ_CHECK(joined == want, escaped(joined) + " want " + escaped(want));
  FUZZ_CHECK(c.size() == joined.size(), "size() is not the joined length");
  popbox::core::CrlfSizer sizer;
  sizer.add(msg);
  FUZZ_CHECK(sizer.total() == joined.size(), "CrlfSizer disagrees");
  return 0;
}
