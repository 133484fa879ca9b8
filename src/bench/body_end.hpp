#pragma once
// Finds the end of a POP3 multi-line reply body without copying it: the load
// generator only needs to know where a RETR/TOP/UIDL body ends and how big it
// is, at the speed the server sends. Pure code, no I/O.

#include <cstdint>
#include <string_view>

namespace popbox::bench {

/// Scans the body of a multi-line reply, as received (still dot-stuffed),
/// for the terminating CRLF "." CRLF (RFC 1939 section 3). The start of the
/// body counts as the start of a line after CRLF, so ".\r\n" first ends an
/// empty body. It agrees with core::DotDecoder on where the data ends (a dot
/// line next to a bare LF is content), but does not un-stuff or copy.
class BodyEnd {
 public:
  /// Consumes bytes of `in` up to and including the terminator; returns how
  /// many it used (all of `in` while the terminator has not been seen).
  std::size_t scan(std::string_view in) noexcept;
  /// True once the terminator has been consumed.
  bool done() const noexcept { return matched_ == terminator_.size(); }
  /// Octets of the body before the final ".\r\n" (the body's last CRLF
  /// included), once done(); before that, the octets consumed so far.
  std::uint64_t octets() const noexcept { return done() ? consumed_ - 3 : consumed_; }

 private:
  /// One byte through the terminator automaton.
  void step(char c) noexcept;

  static constexpr std::string_view terminator_ = "\r\n.\r\n";
  std::size_t matched_ = 2;  // the body starts after the reply line's CRLF
  std::uint64_t consumed_ = 0;
};

}  // namespace popbox::bench
