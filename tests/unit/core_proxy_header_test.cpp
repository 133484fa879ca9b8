// PROXY protocol v1/v2 header parser: table-driven cases, every split offset.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/proxy_header.hpp"

using popbox::core::ProxyHeader;
using popbox::core::ProxyHeaderParser;
using Result = ProxyHeaderParser::Result;

namespace {

const std::string sig("\r\n\r\n\0\r\nQUIT\n", 12);

std::string be16(unsigned v) {
  return std::string{static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}

// A v2 header: version/command byte, family byte, then the body.
std::string v2(unsigned char ver_cmd, unsigned char family, const std::string& body) {
  return sig + static_cast<char>(ver_cmd) + static_cast<char>(family) + be16(body.size()) + body;
}

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

const std::string v2_tcp4_body = bytes({192, 0, 2, 1, 198, 51, 100, 7}) + be16(56324) + be16(110);
const std::string v2_tcp6_body =
    bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}) +
    bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}) + be16(1234) + be16(995);
// TLVs: ALPN "pop3", AUTHORITY "mx", NOOP with no value.
const std::string tlvs =
    bytes({0x01}) + be16(4) + "pop3" + bytes({0x02}) + be16(2) + "mx" + bytes({0x04}) + be16(0);

struct Case {
  const char* name;
  std::string input;
  Result result;
  std::string source{};  ///< empty: no addresses
  unsigned source_port = 0;
  std::size_t tlvs = 0;
};

std::vector<Case> cases() {
  return {
      {"v1 tcp4", "PROXY TCP4 192.0.2.1 198.51.100.7 56324 110\r\n", Result::done, "192.0.2.1",
       56324},
      {"v1 tcp6", "PROXY TCP6 2001:db8::1 2001:db8::2 1234 995\r\n", Result::done, "2001:db8::1",
       1234},
      {"v1 unknown", "PROXY UNKNOWN\r\n", Result::done, ""},
      {"v1 unknown with addresses", "PROXY UNKNOWN ffff:f...f:ffff 1 2 3\r\n", Result::done, ""},
      {"v1 longest",
       "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
       Result::done, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535},
      {"v1 family mismatch", "PROXY TCP4 2001:db8::1 2001:db8::2 1 2\r\n", Result::error},
      {"v1 bad address", "PROXY TCP4 192.0.2.300 198.51.100.7 1 2\r\n", Result::error},
      {"v1 port too big", "PROXY TCP4 192.0.2.1 198.51.100.7 65536 110\r\n", Result::error},
      {"v1 port leading zero", "PROXY TCP4 192.0.2.1 198.51.100.7 01 110\r\n", Result::error},
      {"v1 double space", "PROXY TCP4  192.0.2.1 198.51.100.7 1 110\r\n", Result::error},
      {"v1 missing field", "PROXY TCP4 192.0.2.1 198.51.100.7 1\r\n", Result::error},
      {"v1 bare LF", "PROXY TCP4 192.0.2.1 198.51.100.7 1 2\n", Result::error},
      {"v1 udp", "PROXY UDP4 192.0.2.1 198.51.100.7 1 2\r\n", Result::error},
      {"v1 too long", "PROXY UNKNOWN " + std::string(100, 'x') + "\r\n", Result::error},
      {"v1 unterminated", "PROXY TCP4 192.0.2.1", Result::need_more},
      {"lower-case proxy", "proxy TCP4 192.0.2.1 198.51.100.7 1 2\r\n", Result::error},
      {"pop3 command", "CAPA\r\n", Result::error},
      {"tls client hello", bytes({0x16, 0x03, 0x01, 0x00, 0xa5}), Result::error},
      {"empty", "", Result::need_more},
      {"v2 proxy tcp4", v2(0x21, 0x11, v2_tcp4_body), Result::done, "192.0.2.1", 56324},
      {"v2 proxy tcp6", v2(0x21, 0x21, v2_tcp6_body), Result::done, "2001:db8::1", 1234},
      {"v2 proxy tcp4 with tlvs", v2(0x21, 0x11, v2_tcp4_body + tlvs), Result::done, "192.0.2.1",
       56324, 3},
      {"v2 local", v2(0x20, 0x00, ""), Result::done, ""},
      {"v2 local with tcp4 and tlvs", v2(0x20, 0x11, v2_tcp4_body + tlvs), Result::done, "", 0, 3},
      {"v2 proxy unspec", v2(0x21, 0x00, ""), Result::done, ""},
      {"v2 proxy unix", v2(0x21, 0x31, std::string(216, '\0')), Result::done, ""},
      {"v2 version 1", v2(0x11, 0x11, v2_tcp4_body), Result::error},
      {"v2 command 2", v2(0x22, 0x11, v2_tcp4_body), Result::error},
      {"v2 udp", v2(0x21, 0x12, v2_tcp4_body), Result::error},
      {"v2 family 4", v2(0x21, 0x41, v2_tcp4_body), Result::error},
      {"v2 transport 3", v2(0x21, 0x13, v2_tcp4_body), Result::error},
      {"v2 short address", v2(0x21, 0x21, v2_tcp4_body), Result::error},
      {"v2 truncated tlv", v2(0x21, 0x11, v2_tcp4_body + bytes({0x01, 0x00})), Result::error},
      {"v2 tlv too long", v2(0x21, 0x11, v2_tcp4_body + bytes({0x01}) + be16(9) + "abc"),
       Result::error},
      {"v2 too long", sig + bytes({0x21, 0x11}) + be16(60000), Result::error},
      {"v2 incomplete", v2(0x21, 0x11, v2_tcp4_body).substr(0, 20), Result::need_more},
      {"bad signature", std::string("\r\n\r\n\0\r\nQUIx\n", 12), Result::error},
  };
}

struct Outcome {
  Result result = Result::need_more;
  std::size_t used = 0;
  ProxyHeader header;
};

// Feeds `input` in the pieces [0, cut) and [cut, end).
Outcome parse(const std::string& input, std::size_t cut) {
  ProxyHeaderParser p;
  Outcome o;
  for (std::string_view part :
       {std::string_view(input).substr(0, cut), std::string_view(input).substr(cut)}) {
    if (o.result != Result::need_more) break;
    std::size_t used = 0;
    o.result = p.feed(part, used);
    EXPECT_LE(used, part.size());
    if (o.result == Result::need_more) {
      EXPECT_EQ(used, part.size());
    }
    o.used += used;
  }
  if (o.result == Result::done) o.header = p.header();
  return o;
}

}  // namespace

TEST(ProxyHeader, TableOfCases) {
  for (const Case& c : cases()) {
    Outcome o = parse(c.input, c.input.size());
    ASSERT_EQ(o.result, c.result) << c.name;
    if (c.result != Result::done) continue;
    EXPECT_EQ(o.used, c.input.size()) << c.name;
    EXPECT_EQ(o.header.has_addresses, !c.source.empty()) << c.name;
    if (!c.source.empty()) {
      EXPECT_EQ(o.header.source.to_string(), c.source) << c.name;
      EXPECT_EQ(o.header.source_port, c.source_port) << c.name;
    }
    EXPECT_EQ(o.header.tlv_count, c.tlvs) << c.name;
    EXPECT_EQ(o.header.version, c.input[0] == 'P' ? 1 : 2) << c.name;
    // Only v2 LOCAL is the proxy's own connection (its address may be kept).
    EXPECT_EQ(o.header.local, std::string_view(c.name).starts_with("v2 local")) << c.name;
  }
}

TEST(ProxyHeader, DestinationOfV1AndV2) {
  Outcome o1 = parse("PROXY TCP4 192.0.2.1 198.51.100.7 56324 110\r\n", 0);
  EXPECT_EQ(o1.header.destination.to_string(), "198.51.100.7");
  EXPECT_EQ(o1.header.destination_port, 110);
  const std::string h = v2(0x21, 0x21, v2_tcp6_body);
  Outcome o2 = parse(h, 0);
  EXPECT_EQ(o2.header.destination.to_string(), "2001:db8::2");
  EXPECT_EQ(o2.header.destination_port, 995);
}

TEST(ProxyHeader, SameResultAtEverySplitOffset) {
  for (const Case& c : cases()) {
    Outcome whole = parse(c.input, c.input.size());
    for (std::size_t cut = 0; cut <= c.input.size(); ++cut) {
      Outcome o = parse(c.input, cut);
      ASSERT_EQ(o.result, whole.result) << c.name << " cut " << cut;
      if (o.result == Result::done) {
        EXPECT_EQ(o.used, whole.used) << c.name << " cut " << cut;
        EXPECT_EQ(o.header.source, whole.header.source) << c.name << " cut " << cut;
        EXPECT_EQ(o.header.source_port, whole.header.source_port) << c.name << " cut " << cut;
      }
    }
  }
}

TEST(ProxyHeader, NeverConsumesWhatFollowsTheHeader) {
  // The client's first bytes (a TLS ClientHello, a POP3 command) may come in
  // the same segment as the header: they must stay for the next reader.
  for (const std::string& header : {std::string("PROXY TCP4 192.0.2.1 198.51.100.7 56324 110\r\n"),
                                    v2(0x21, 0x11, v2_tcp4_body + tlvs), v2(0x20, 0x00, "")}) {
    const std::string input = header + "\x16\x03\x01 rest of the stream\r\n";
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
      Outcome o = parse(input, cut);
      ASSERT_EQ(o.result, Result::done) << cut;
      EXPECT_EQ(o.used, header.size()) << cut;
    }
  }
}

TEST(ProxyHeader, ByteAtATime) {
  const std::string h = v2(0x21, 0x11, v2_tcp4_body + tlvs);
  ProxyHeaderParser p;
  for (std::size_t i = 0; i < h.size(); ++i) {
    std::size_t used = 0;
    Result r = p.feed(std::string_view(h).substr(i, 1), used);
    EXPECT_EQ(used, 1u);
    EXPECT_EQ(r, i + 1 == h.size() ? Result::done : Result::need_more) << i;
  }
  std::size_t used = 99;
  EXPECT_EQ(p.feed("more", used), Result::done);
  EXPECT_EQ(used, 0u);
}
