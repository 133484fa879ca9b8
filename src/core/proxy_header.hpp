#pragma once
// The PROXY protocol header (HAProxy, versions 1 and 2) that a trusted proxy
// sends before the client's bytes, naming the client it accepted. Pure code:
// bytes in, need_more / done / error out, no I/O.
// Spec: https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/ip_address.hpp"

namespace popbox::core {

/// What a complete header said.
struct ProxyHeader {
  int version = 0;  ///< 1 or 2
  /// False for v1 UNKNOWN, v2 LOCAL and v2 address families without IP
  /// addresses: the connection's own addresses stay in force.
  bool has_addresses = false;
  /// v2 LOCAL: the proxy's own connection (a health check), not a client's.
  bool local = false;
  IpAddress source, destination;
  std::uint16_t source_port = 0, destination_port = 0;
  std::size_t tlv_count = 0;  ///< v2 TLVs seen (checked for framing only)
};

/// Incremental PROXY header parser. It consumes exactly the header's bytes,
/// never what follows (the client's data, e.g. a TLS ClientHello).
class ProxyHeaderParser {
 public:
  enum class Result { need_more, done, error };

  /// Takes bytes from `data`; sets `used` to how many belong to the header
  /// (all of them while need_more). After done or error it consumes nothing.
  Result feed(std::string_view data, std::size_t& used);
  /// The header; valid after done.
  const ProxyHeader& header() const { return header_; }
  /// Why the input was refused; valid after error.
  const std::string& error() const { return error_; }

 private:
  Result fail(std::string what);
  Result parse_v1();
  Result parse_v2();
  std::size_t wanted() const;

  std::string buf_;
  Result state_ = Result::need_more;
  ProxyHeader header_;
  std::string error_;
};

}  // namespace popbox::core
