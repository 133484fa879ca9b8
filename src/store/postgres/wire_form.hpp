#pragma once
// The storage-independent core of a delivery: a message as received (any
// line ends) becomes its wire form -- what RETR sends before dot-stuffing:
// every bare LF a CRLF, an unterminated last line given a CRLF (the same
// rule as core::CrlfSizer) -- cut into fixed-size chunks for a sink. Pure:
// no I/O, blocks may be cut anywhere.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>

namespace popbox::store::pg {

/// Converts to wire form and hands out chunks of exactly `chunk_size`
/// bytes (the last one shorter; none for an empty message).
class WireChunker {
 public:
  /// Receives each chunk in order; an error stops the chunker.
  using Sink = std::function<std::error_code(std::string_view chunk)>;

  WireChunker(std::size_t chunk_size, Sink sink);
  /// Adds the next received bytes; returns the sink's first error.
  std::error_code write(std::string_view block);
  /// Ends the message: the final CRLF if needed, the last chunk.
  std::error_code finish();
  /// Wire bytes produced so far (after finish(): the message's size).
  std::uint64_t size() const { return size_; }

 private:
  std::error_code put(char c);
  std::error_code flush();

  std::size_t chunk_size_;
  Sink sink_;
  std::string buf_;
  std::uint64_t size_ = 0;
  bool last_cr_ = false;  ///< the previous byte was CR
  bool at_line_start_ = true;
};

/// The wire form of a whole short text (a header prefix, a test message).
std::string to_wire_form(std::string_view text);

}  // namespace popbox::store::pg
