#include "core/proxy_header.hpp"

#include <algorithm>
#include <vector>

#include "core/limits.hpp"

namespace popbox::core {
namespace {

constexpr std::string_view v1_signature = "PROXY ";
constexpr std::string_view v2_signature{"\r\n\r\n\0\r\nQUIT\n", 12};
/// v1 lines are at most 107 octets, CRLF included (spec section 2.1).
constexpr std::size_t v1_max = 107;
constexpr std::size_t v2_fixed = 16;

bool is_prefix_of(std::string_view have, std::string_view sig) {
  return sig.substr(0, std::min(have.size(), sig.size())) == have.substr(0, sig.size());
}

std::vector<std::string_view> split_spaces(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    std::size_t sp = s.find(' ', pos);
    if (sp == std::string_view::npos) sp = s.size();
    out.push_back(s.substr(pos, sp - pos));
    pos = sp + 1;
  }
  return out;
}

// Decimal 0..65535 without sign or leading zeros (spec 2.1).
bool parse_port(std::string_view s, std::uint16_t& port) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535) return false;
  port = static_cast<std::uint16_t>(v);
  return true;
}

std::uint16_t be16(const std::string& b, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(b[at]) << 8) |
                                    static_cast<unsigned char>(b[at + 1]));
}

}  // namespace

ProxyHeaderParser::Result ProxyHeaderParser::fail(std::string what) {
  state_ = Result::error;
  error_ = std::move(what);
  return state_;
}

// How many bytes the header has in total, as far as is known yet.
std::size_t ProxyHeaderParser::wanted() const {
  if (buf_.size() >= v2_fixed && buf_.compare(0, v2_signature.size(), v2_signature) == 0) {
    return v2_fixed + be16(buf_, 14);
  }
  return 0;
}

ProxyHeaderParser::Result ProxyHeaderParser::feed(std::string_view data, std::size_t& used) {
  used = 0;
  while (state_ == Result::need_more && used < data.size()) {
    const bool v2 = buf_.size() >= v2_fixed && buf_[0] == '\r';
    if (v2) {
      // Take the rest of the announced length in one piece.
      const std::size_t total = wanted();
      if (total > limits::max_proxy_header) return fail("PROXY v2 header too long");
      const std::size_t take = std::min(total - buf_.size(), data.size() - used);
      buf_.append(data.substr(used, take));
      used += take;
      if (buf_.size() == total) return parse_v2();
      continue;
    }
    buf_.push_back(data[used++]);
    if (!is_prefix_of(buf_, v1_signature) && !is_prefix_of(buf_, v2_signature)) {
      return fail("not a PROXY protocol header");
    }
    if (buf_[0] == 'P') {
      if (buf_.back() == '\n') return parse_v1();
      if (buf_.size() >= v1_max) return fail("PROXY v1 line too long");
    } else if (buf_.size() == v2_fixed) {
      const auto ver_cmd = static_cast<unsigned char>(buf_[12]);
      if ((ver_cmd >> 4) != 2) return fail("PROXY v2: unsupported version");
      if ((ver_cmd & 0x0f) > 1) return fail("PROXY v2: unknown command");
      if (wanted() > limits::max_proxy_header) return fail("PROXY v2 header too long");
      if (wanted() == v2_fixed) return parse_v2();
    }
  }
  return state_;
}

ProxyHeaderParser::Result ProxyHeaderParser::parse_v1() {
  std::string_view line(buf_);
  if (line.size() < 2 || line[line.size() - 2] != '\r') return fail("PROXY v1: bare LF");
  line.remove_suffix(2);
  auto f = split_spaces(line);
  header_ = {};
  header_.version = 1;
  if (f.size() >= 2 && f[1] == "UNKNOWN") {  // anything may follow (spec 2.1)
    state_ = Result::done;
    return state_;
  }
  if (f.size() != 6 || (f[1] != "TCP4" && f[1] != "TCP6")) return fail("PROXY v1: bad line");
  const bool v6 = f[1] == "TCP6";
  auto src = parse_ip(f[2]), dst = parse_ip(f[3]);
  if (!src || !dst || src->v6 != v6 || dst->v6 != v6) return fail("PROXY v1: bad address");
  if (!parse_port(f[4], header_.source_port) || !parse_port(f[5], header_.destination_port)) {
    return fail("PROXY v1: bad port");
  }
  header_.has_addresses = true;
  header_.source = *src;
  header_.destination = *dst;
  state_ = Result::done;
  return state_;
}

ProxyHeaderParser::Result ProxyHeaderParser::parse_v2() {
  header_ = {};
  header_.version = 2;
  const auto cmd = static_cast<unsigned char>(buf_[12]) & 0x0f;
  header_.local = cmd == 0;
  const auto family = static_cast<unsigned char>(buf_[13]);
  const std::size_t end = buf_.size();
  std::size_t pos = v2_fixed;
  std::size_t addr_len = 0;
  const auto transport = family & 0x0f;  // 0 UNSPEC, 1 STREAM, 2 DGRAM
  switch (family >> 4) {
    case 0x0:  // AF_UNSPEC
      break;
    case 0x1:  // AF_INET
      addr_len = 12;
      break;
    case 0x2:  // AF_INET6
      addr_len = 36;
      break;
    case 0x3:  // AF_UNIX
      addr_len = 216;
      break;
    default:
      return fail("PROXY v2: unknown address family");
  }
  if (transport > 2) return fail("PROXY v2: unknown transport");
  if (end - pos < addr_len) return fail("PROXY v2: address block too short");
  if (cmd == 1 && (family >> 4) != 0 && transport == 2) {
    return fail("PROXY v2: datagram proxying is not supported");
  }
  if (cmd == 1 && (family == 0x11 || family == 0x21)) {
    const bool v6 = family == 0x21;
    const std::size_t n = v6 ? 16 : 4;
    header_.source.v6 = header_.destination.v6 = v6;
    for (std::size_t i = 0; i < n; ++i) {
      header_.source.bytes[i] = static_cast<std::uint8_t>(buf_[pos + i]);
      header_.destination.bytes[i] = static_cast<std::uint8_t>(buf_[pos + n + i]);
    }
    header_.source_port = be16(buf_, pos + 2 * n);
    header_.destination_port = be16(buf_, pos + 2 * n + 2);
    header_.has_addresses = true;
  }
  pos += addr_len;
  // TLVs: type (1), length (2), value; each must fit exactly (spec 2.2.7).
  while (pos < end) {
    if (end - pos < 3) return fail("PROXY v2: truncated TLV");
    const std::size_t len = be16(buf_, pos + 1);
    if (end - pos - 3 < len) return fail("PROXY v2: TLV longer than the header");
    pos += 3 + len;
    ++header_.tlv_count;
  }
  state_ = Result::done;
  return state_;
}

}  // namespace popbox::core
