#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/dot_codec.hpp"

using popbox::core::CrlfSizer;
using popbox::core::DotDecoder;
using popbox::core::DotEncoder;

namespace {

std::string encode_whole(std::string_view msg) {
  DotEncoder enc;
  std::string out;
  enc.encode(msg, out);
  enc.finish(out);
  return out;
}

// Encodes with the input cut at every byte offset, proving block boundaries
// never change the output.
void expect_split_invariant(std::string_view msg, std::string_view want) {
  for (std::size_t cut = 0; cut <= msg.size(); ++cut) {
    DotEncoder enc;
    std::string out;
    enc.encode(msg.substr(0, cut), out);
    enc.encode(msg.substr(cut), out);
    enc.finish(out);
    ASSERT_EQ(out, want) << "cut at " << cut;
  }
}

struct Case {
  const char* name;
  std::string stored;
  std::string wire;  // body of the multi-line response, terminator included
};

std::vector<Case> cases() {
  return {
      {"empty message", "", ".\r\n"},
      {"lf lines", "a\nb\n", "a\r\nb\r\n.\r\n"},
      {"crlf kept", "a\r\nb\r\n", "a\r\nb\r\n.\r\n"},
      {"mixed", "a\r\nb\nc\r\n", "a\r\nb\r\nc\r\n.\r\n"},
      {"no final newline", "Subject: x\n\nbody", "Subject: x\r\n\r\nbody\r\n.\r\n"},
      {"dot lines", ".\n..\n.x\n", "..\r\n...\r\n..x\r\n.\r\n"},
      {"only dot no newline", ".", "..\r\n.\r\n"},
      {"dot mid line untouched", "a.b\n", "a.b\r\n.\r\n"},
      {"lone cr is content", "a\rb\n", "a\rb\r\n.\r\n"},
      {"cr at end", "a\r", "a\r\r\n.\r\n"},
      {"blank lines", "\n\n", "\r\n\r\n.\r\n"},
      {"binary", std::string("\0\xff\x80\n", 4), std::string("\0\xff\x80\r\n.\r\n", 8)},
      {"crlf with dot lines", ".\r\n.\r\nx\r\n", "..\r\n..\r\nx\r\n.\r\n"},
      {"terminator inside content", "a\r\n.\r\nb\n", "a\r\n..\r\nb\r\n.\r\n"},
      {"lone cr at line start", "\r.\n", "\r.\r\n.\r\n"},
      {"cr cr lf", "a\r\r\n", "a\r\r\n.\r\n"},
      {"only cr", "\r", "\r\r\n.\r\n"},
      {"dot after lone cr line end", "a\r.\n", "a\r.\r\n.\r\n"},
      {"lf dot split", "x\n.y", "x\r\n..y\r\n.\r\n"},
      {"crlf no final newline", "a\r\nb", "a\r\nb\r\n.\r\n"},
  };
}

}  // namespace

TEST(DotEncoder, TableOfMessageShapes) {
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(encode_whole(c.stored), c.wire);
    expect_split_invariant(c.stored, c.wire);
  }
}

// Obviously right, one byte at a time: the oracle for the block encoder.
std::string reference_encode(std::string_view msg) {
  std::string out;
  bool line_start = true;
  for (std::size_t i = 0; i < msg.size(); ++i) {
    char c = msg[i];
    if (c == '\r' && i + 1 < msg.size() && msg[i + 1] == '\n') continue;  // CRLF: the LF ends it
    if (c == '\n') {
      out += "\r\n";
      line_start = true;
      continue;
    }
    if (line_start && c == '.') out += '.';
    out += c;
    line_start = false;
  }
  if (!line_start) out += "\r\n";
  return out + ".\r\n";
}

TEST(DotEncoder, MatchesTheByteAtATimeOracleAtEveryPairOfCuts) {
  std::mt19937 rng(7);
  const char alphabet[] = {'.', '\r', '\n', 'a'};
  for (int n = 0; n < 300; ++n) {
    std::string msg;
    for (int i = rng() % 24; i > 0; --i) msg.push_back(alphabet[rng() % sizeof alphabet]);
    const std::string want = reference_encode(msg);
    for (std::size_t a = 0; a <= msg.size(); ++a) {
      for (std::size_t b = a; b <= msg.size(); ++b) {
        DotEncoder enc;
        std::string out;
        enc.encode(std::string_view(msg).substr(0, a), out);
        enc.encode(std::string_view(msg).substr(a, b - a), out);
        enc.encode(std::string_view(msg).substr(b), out);
        enc.finish(out);
        ASSERT_EQ(out, want) << "cuts " << a << "," << b;
      }
    }
  }
}

TEST(DotEncoder, StaysWithinItsStatedGrowth) {
  // The session bounds its output with these numbers.
  for (std::string msg : {std::string(1000, '\n'), std::string(1000, '.'),
                          std::string("\n.\n.\n.\n."), std::string("\r"), std::string("a\r")}) {
    DotEncoder enc;
    std::string out;
    enc.encode(msg, out);
    EXPECT_LE(out.size(), DotEncoder::max_expansion * msg.size());
    std::size_t before = out.size();
    enc.finish(out);
    EXPECT_LE(out.size() - before, DotEncoder::max_finish);
    EXPECT_TRUE(enc.done());
  }
}

TEST(CrlfSizer, MatchesUnstuffedWireSize) {
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.name);
    CrlfSizer sizer;
    for (char ch : c.stored) sizer.add(std::string_view(&ch, 1));
    // The wire body minus the terminator and the stuffed dots.
    DotDecoder dec;
    std::string unstuffed;
    dec.decode(c.wire, unstuffed);
    EXPECT_TRUE(dec.done());
    EXPECT_EQ(sizer.total(), unstuffed.size());
  }
}

TEST(DotEncoder, LongLinesStayWhole) {
  std::string line(5000, 'x');
  std::string msg = "H: v\n\n" + line + "\n" + line;
  std::string want = "H: v\r\n\r\n" + line + "\r\n" + line + "\r\n.\r\n";
  EXPECT_EQ(encode_whole(msg), want);
}

TEST(DotEncoder, TopLimitsBodyLines) {
  std::string msg = "A: 1\nB: 2\n\nl1\nl2\nl3\n";
  auto top = [&](std::uint64_t n) {
    DotEncoder enc(n);
    std::string out;
    for (char ch : msg) {
      if (!enc.encode(std::string_view(&ch, 1), out)) break;
    }
    enc.finish(out);
    return out;
  };
  EXPECT_EQ(top(0), "A: 1\r\nB: 2\r\n\r\n.\r\n");
  EXPECT_EQ(top(2), "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n.\r\n");
  EXPECT_EQ(top(99), "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n.\r\n");
}

TEST(DotEncoder, TopOnCrlfHeaderAndHeaderOnlyMessage) {
  DotEncoder enc(0);
  std::string out;
  enc.encode("A: 1\r\n\r\nbody\r\n", out);
  enc.finish(out);
  EXPECT_EQ(out, "A: 1\r\n\r\n.\r\n");
  DotEncoder enc2(0);
  std::string out2;
  enc2.encode("A: 1\nB: 2", out2);
  enc2.finish(out2);
  EXPECT_EQ(out2, "A: 1\r\nB: 2\r\n.\r\n");
}

TEST(DotDecoder, RoundTripsRandomMessagesAtEverySplit) {
  std::mt19937 rng(42);
  const char alphabet[] = {'.', '\r', '\n', 'a', '\0', '\xff'};
  for (int n = 0; n < 200; ++n) {
    std::string msg;
    for (int i = rng() % 40; i > 0; --i) msg.push_back(alphabet[rng() % sizeof alphabet]);
    std::string wire = encode_whole(msg);
    // What a client must see: the stored message with CRLF line ends.
    DotDecoder whole;
    std::string want;
    ASSERT_EQ(whole.decode(wire, want), wire.size());
    ASSERT_TRUE(whole.done());
    CrlfSizer sizer;
    sizer.add(msg);
    ASSERT_EQ(sizer.total(), want.size());
    for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
      DotDecoder dec;
      std::string got;
      std::size_t used = dec.decode(std::string_view(wire).substr(0, cut), got);
      used += dec.decode(std::string_view(wire).substr(used), got);
      ASSERT_TRUE(dec.done());
      ASSERT_EQ(used, wire.size());
      ASSERT_EQ(got, want);
    }
  }
}

TEST(DotDecoder, StopsAtTerminatorAndLeavesTheRest) {
  DotDecoder dec;
  std::string out;
  std::string_view in = "a\r\n..b\r\n.\r\n+OK next";
  std::size_t used = dec.decode(in, out);
  EXPECT_TRUE(dec.done());
  EXPECT_EQ(out, "a\r\n.b\r\n");
  EXPECT_EQ(in.substr(used), "+OK next");
}

namespace {

struct DecodeCase {
  const char* name;
  std::string wire;  // input, possibly with bytes after the end of data
  std::string body;  // what the decoder must hand out
  bool done;         // whether CRLF "." CRLF was seen
  std::size_t used;  // bytes of `wire` consumed
};

// Only CRLF "." CRLF ends data; every bare-LF dot line is content, as-is.
std::vector<DecodeCase> decode_cases() {
  auto all = [](std::string w, std::string b, bool done) {
    std::size_t n = w.size();
    return DecodeCase{"", std::move(w), std::move(b), done, n};
  };
  std::vector<DecodeCase> v = {
      all(".\r\n", "", true),
      all("a\r\n.\r\n", "a\r\n", true),
      all("a\n.\n", "a\n.\n", false),
      all("a\r\n.\n", "a\r\n.\n", false),
      all("a\n.\r\n", "a\n.\r\n", false),
      all(".\n", ".\n", false),
      all("a\n.\r\n.\r\n", "a\n.\r\n", true),
      all("a\n.\n.\r\n", "a\n.\n.\r\n", false),
      all("a\n.\nb\r\n.\r\n", "a\n.\nb\r\n", true),
      all("a\n..\r\n.\r\n", "a\n.\r\n", true),
      all("..\r\n..\n.x\n.\r\n", ".\r\n.\nx\n.\r\n", false),
      all("..\r\n..\n.x\r\n.\r\n", ".\r\n.\nx\r\n", true),
      all("a\r\n.\rb\r\n.\r\n", "a\r\n\rb\r\n", true),
      all("a\n.\rb\r\n.\r\n", "a\n\rb\r\n", true),
      all("a\r\r\n.\r\n", "a\r\r\n", true),
      all("a\n\r\n.\r\n", "a\n\r\n", true),
      all("\n.\n", "\n.\n", false),
      {"", "a\r\n.\r\nMAIL", "a\r\n", true, 6},
  };
  return v;
}

}  // namespace

TEST(DotDecoder, OnlyCrlfDotCrlfEndsDataAtEverySplit) {
  for (const auto& c : decode_cases()) {
    SCOPED_TRACE(::testing::PrintToString(c.wire));
    for (std::size_t cut = 0; cut <= c.wire.size(); ++cut) {
      DotDecoder dec;
      std::string got;
      std::size_t used = dec.decode(std::string_view(c.wire).substr(0, cut), got);
      if (!dec.done()) used += dec.decode(std::string_view(c.wire).substr(used), got);
      ASSERT_EQ(got, c.body) << "cut at " << cut;
      ASSERT_EQ(dec.done(), c.done) << "cut at " << cut;
      ASSERT_EQ(used, c.used) << "cut at " << cut;
    }
    // One byte at a time.
    DotDecoder dec;
    std::string got;
    std::size_t used = 0;
    while (used < c.wire.size() && !dec.done()) {
      used += dec.decode(std::string_view(c.wire).substr(used, 1), got);
    }
    EXPECT_EQ(got, c.body);
    EXPECT_EQ(dec.done(), c.done);
    EXPECT_EQ(used, c.used);
  }
}

TEST(DotDecoder, SmugglingPayloadIsOneMessage) {
  // A body that ends in "\n.\n" for a lenient reader and then starts a new
  // transaction to another recipient: it is all one message here.
  const std::string body =
      "Subject: hi\r\n\r\nhello\n.\nMAIL FROM:<x>\r\nRCPT TO:<bob>\r\nDATA\r\n"
      "Subject: smuggled\r\n\r\nevil\r\n";
  const std::string wire = body + ".\r\nQUIT\r\n";
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    DotDecoder dec;
    std::string got;
    std::size_t used = dec.decode(std::string_view(wire).substr(0, cut), got);
    if (!dec.done()) used += dec.decode(std::string_view(wire).substr(used), got);
    ASSERT_TRUE(dec.done());
    ASSERT_EQ(got, body) << "cut at " << cut;
    ASSERT_EQ(std::string_view(wire).substr(used), "QUIT\r\n");
  }
}
