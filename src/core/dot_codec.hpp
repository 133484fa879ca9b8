#pragma once
// The one streaming codec for POP3/LMTP message bodies: stored bytes (LF or
// CRLF line ends) to wire form (CRLF, dot-stuffed, terminated), and back.
// Pure code: it sees blocks of bytes, never a socket or a file.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace popbox::core {

/// Counts the octets a stored message has on the wire before dot-stuffing:
/// every bare LF becomes CRLF, and an unterminated last line gets a CRLF.
/// This is the size STAT, LIST and the index report.
class CrlfSizer {
 public:
  /// Accounts for the next block of stored bytes.
  void add(std::string_view block) noexcept;
  /// The total for everything added so far, as if the message ended here.
  std::uint64_t total() const noexcept;

 private:
  std::uint64_t octets_ = 0;
  bool prev_cr_ = false;
  bool at_line_start_ = true;
};

/// Turns stored message bytes into the body of a POP3 multi-line response:
/// CRLF line ends, a '.' doubled at the start of a line, and the terminator.
/// With a body line limit (TOP), output stops after the header, the blank
/// line and that many body lines. Blocks may be cut anywhere (a CR at the end
/// of a block waits for the next byte); the output never depends on the cuts.
class DotEncoder {
 public:
  /// encode() appends at most this many wire bytes per stored byte (LF to
  /// CRLF, a dot at the start of a line to two dots).
  static constexpr std::size_t max_expansion = 2;
  /// finish() appends at most this many bytes (a held CR, CRLF, ".\r\n").
  static constexpr std::size_t max_finish = 6;

  DotEncoder() = default;
  explicit DotEncoder(std::uint64_t body_line_limit) : limit_(body_line_limit) {}

  /// Appends the wire form of `block` to `out` (at most max_expansion *
  /// block.size() bytes). Returns false once the line limit is reached: the
  /// rest of the message is not needed.
  bool encode(std::string_view block, std::string& out);
  /// Appends CRLF if the last line was unterminated, then ".\r\n".
  void finish(std::string& out);
  /// True once the line limit is reached or finish() ran.
  bool done() const noexcept { return done_; }

 private:
  char* end_line(char* w) noexcept;

  std::optional<std::uint64_t> limit_;
  std::uint64_t body_lines_ = 0;
  bool in_header_ = true;
  bool line_empty_ = true;  // current line has no content yet (for the header end)
  bool at_line_start_ = true;
  bool prev_cr_ = false;
  bool done_ = false;
};

/// Turns the body of a multi-line response (or LMTP DATA) back into the
/// message: removes dot-stuffing and detects the end of data. Line ends are
/// kept as received. Only CRLF "." CRLF ends the data (RFC 5321 4.1.1.4,
/// RFC 1939 3): a dot line next to a bare LF ("\n.\n", "\r\n.\n",
/// "\n.\r\n") is message content, delivered as-is, so a body cannot smuggle
/// a second transaction past a peer that reads line ends differently. The
/// start of the input counts as the start of a line after CRLF.
class DotDecoder {
 public:
  /// Consumes bytes from `in`, appending message bytes to `out`. Returns the
  /// number of bytes of `in` used; once CRLF "." CRLF is seen, done() is
  /// true and the remaining input belongs to whatever follows.
  std::size_t decode(std::string_view in, std::string& out);
  bool done() const noexcept { return done_; }

 private:
  enum class State { line_start, dot_seen, dot_cr_seen, in_line, cr_seen };
  State state_ = State::line_start;
  bool after_crlf_ = true;  // the current line started after CRLF (or at the start)
  bool done_ = false;
};

}  // namespace popbox::core
