#include "core/ip_address.hpp"

#include <arpa/inet.h>

#include "core/limits.hpp"

namespace popbox::core {
namespace {

constexpr std::array<std::uint8_t, 12> v4_mapped_prefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool is_v4_mapped(const IpAddress& a) {
  if (!a.v6) return false;
  for (std::size_t i = 0; i < v4_mapped_prefix.size(); ++i) {
    if (a.bytes[i] != v4_mapped_prefix[i]) return false;
  }
  return true;
}

// Clears every bit after the first `prefix` bits.
IpAddress masked(IpAddress a, int prefix) {
  const int bits = a.v6 ? 128 : 32;
  for (int i = prefix; i < bits; ++i) {
    a.bytes[static_cast<std::size_t>(i / 8)] &= static_cast<std::uint8_t>(~(0x80u >> (i % 8)));
  }
  return a;
}

}  // namespace

IpAddress IpAddress::unmapped() const {
  if (!is_v4_mapped(*this)) return *this;
  IpAddress v4;
  for (std::size_t i = 0; i < 4; ++i) v4.bytes[i] = bytes[12 + i];
  return v4;
}

bool IpAddress::is_loopback() const {
  const IpAddress u = unmapped();
  if (!u.v6) return u.bytes[0] == 127;
  for (std::size_t i = 0; i < 15; ++i) {
    if (u.bytes[i] != 0) return false;
  }
  return u.bytes[15] == 1;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (::inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf) == nullptr) return "?";
  return buf;
}

std::optional<IpAddress> parse_ip(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  if (text.find('\0') != std::string_view::npos) return std::nullopt;
  const std::string s(text);
  IpAddress a;
  if (::inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) return a;
  a.v6 = true;
  if (::inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) return a;
  return std::nullopt;
}

bool Cidr::contains(const IpAddress& a) const {
  const IpAddress u = a.unmapped();
  if (u.v6 != network.v6) return false;
  return masked(u, prefix) == network;
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  std::string_view addr = text, len;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    len = text.substr(slash + 1);
  }
  auto ip = parse_ip(addr);
  if (!ip) return std::nullopt;
  const int bits = ip->v6 ? 128 : 32;
  int prefix = bits;
  if (!len.empty() || text.find('/') != std::string_view::npos) {
    if (len.empty() || len.size() > 3) return std::nullopt;
    prefix = 0;
    for (char c : len) {
      if (c < '0' || c > '9') return std::nullopt;
      prefix = prefix * 10 + (c - '0');
    }
    if (prefix > bits) return std::nullopt;
  }
  if (masked(*ip, prefix) != *ip) return std::nullopt;  // host bits set
  return Cidr{*ip, prefix};
}

std::string client_key(const IpAddress& a) {
  const IpAddress u = a.unmapped();
  if (!u.v6)
    return std::string("4:") + std::string(reinterpret_cast<const char*>(u.bytes.data()), 4);
  const IpAddress net = masked(u, limits::ipv6_client_prefix);
  return std::string("6:") + std::string(reinterpret_cast<const char*>(net.bytes.data()), 16);
}

}  // namespace popbox::core
