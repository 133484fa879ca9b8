#pragma once
// IP addresses as plain bytes, CIDR networks and the per-client grouping key
// used by every per-IP limit. Pure code (no Asio), shared by config, net and
// the fuzzers.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace popbox::core {

/// An IPv4 or IPv6 address in network byte order (IPv4 uses bytes 0..3).
struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};

  /// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it
  /// stands for; every other address unchanged.
  IpAddress unmapped() const;
  /// True for 127.0.0.0/8 and ::1 (IPv4-mapped loopback included).
  bool is_loopback() const;
  /// The textual form ("192.0.2.1", "2001:db8::1").
  std::string to_string() const;
  bool operator==(const IpAddress&) const = default;
};

/// Parses a numeric IPv4 or IPv6 address.
std::optional<IpAddress> parse_ip(std::string_view text);

/// A network such as 10.0.0.0/8 or 2001:db8::/32.
struct Cidr {
  IpAddress network;  ///< host bits cleared
  int prefix = 0;

  /// True if `a` (IPv4-mapped addresses count as IPv4) lies in the network.
  bool contains(const IpAddress& a) const;
};

/// Parses "a.b.c.d/n", "x:y::/n" or a bare address (a /32 or /128); host bits
/// must be zero so that a typo like 10.0.0.1/8 is caught.
std::optional<Cidr> parse_cidr(std::string_view text);

/// The key under which per-IP limits count a client: IPv4 (mapped or not)
/// per address, IPv6 per /64 (limits::ipv6_client_prefix).
std::string client_key(const IpAddress& a);

}  // namespace popbox::core
