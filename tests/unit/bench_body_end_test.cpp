// bench::BodyEnd: where a multi-line reply body ends, in one block and split
// at every byte offset, and agreement with core::DotDecoder.
#include <gtest/gtest.h>

#include <string>

#include "bench/body_end.hpp"
#include "core/dot_codec.hpp"

namespace popbox::bench {
namespace {

struct Case {
  const char* name;
  std::string wire;      // body, terminator, and what follows
  bool done;             // the terminator is in `wire`
  std::size_t used;      // bytes up to and including it (all when not done)
  std::uint64_t octets;  // body octets before ".\r\n"
};

const Case cases[] = {
    {"empty body", ".\r\n", true, 3, 0},
    {"empty body then next reply", ".\r\n+OK\r\n", true, 3, 0},
    {"one line", "hello\r\n.\r\n", true, 10, 7},
    {"stuffed dot line is content", "..\r\n.\r\n", true, 7, 4},
    {"dot inside a line", "a.\r\nb\r\n.\r\n+OK 2\r\n", true, 10, 7},
    {"bare LF dot line is content", "a\n.\r\nb\r\n.\r\n", true, 11, 8},
    {"CRLF dot LF is content", "a\r\n.\nb\r\n.\r\n", true, 11, 8},
    {"CR CR LF dot CRLF", "a\r\r\n.\r\n", true, 7, 4},
    {"no terminator yet", "a\r\nb\r\n.", false, 7, 7},
    {"dot CR at the end", "a\r\n.\r", false, 5, 5},
    {"lone dot without CRLF at start", ".x\r\n.\r\n", true, 7, 4},
    {"only text", "no end here", false, 11, 11},
};

TEST(BodyEnd, Table) {
  for (const Case& c : cases) {
    BodyEnd end;
    EXPECT_EQ(end.scan(c.wire), c.used) << c.name;
    EXPECT_EQ(end.done(), c.done) << c.name;
    EXPECT_EQ(end.octets(), c.octets) << c.name;
  }
}

// Feeding the input in two pieces, split at every offset, gives the same
// answer as one block (the second piece is offered only while not done).
TEST(BodyEnd, SplitAtEveryOffset) {
  for (const Case& c : cases) {
    for (std::size_t cut = 0; cut <= c.wire.size(); ++cut) {
      BodyEnd end;
      std::size_t used = end.scan(std::string_view(c.wire).substr(0, cut));
      if (!end.done()) used += end.scan(std::string_view(c.wire).substr(cut));
      EXPECT_EQ(used, c.used) << c.name << " cut " << cut;
      EXPECT_EQ(end.done(), c.done) << c.name << " cut " << cut;
      EXPECT_EQ(end.octets(), c.octets) << c.name << " cut " << cut;
    }
  }
}

TEST(BodyEnd, OneByteAtATime) {
  for (const Case& c : cases) {
    BodyEnd end;
    std::size_t used = 0;
    for (std::size_t i = 0; i < c.wire.size() && !end.done(); ++i) {
      used += end.scan(std::string_view(c.wire).substr(i, 1));
    }
    EXPECT_EQ(used, c.used) << c.name;
    EXPECT_EQ(end.done(), c.done) << c.name;
  }
}

TEST(BodyEnd, AgreesWithDotDecoder) {
  for (const Case& c : cases) {
    core::DotDecoder dec;
    std::string out;
    std::size_t used = dec.decode(c.wire, out);
    EXPECT_EQ(used, c.used) << c.name;
    EXPECT_EQ(dec.done(), c.done) << c.name;
  }
}

TEST(BodyEnd, LargeBodyInBlocks) {
  std::string line(998, 'x');
  line += "\r\n";
  std::string wire;
  for (int i = 0; i < 8000; ++i) wire += (i % 7 == 0 ? "." : "") + line;
  std::uint64_t octets = wire.size();
  wire += ".\r\nnext";
  BodyEnd end;
  std::size_t used = 0;
  for (std::size_t pos = 0; pos < wire.size() && !end.done(); pos += 65536) {
    used += end.scan(std::string_view(wire).substr(pos, 65536));
  }
  EXPECT_TRUE(end.done());
  EXPECT_EQ(used, wire.size() - 4);
  EXPECT_EQ(end.octets(), octets);
}

}  // namespace
}  // namespace popbox::bench
