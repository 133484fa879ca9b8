#pragma once
// Splits a byte stream into lines, with a hard cap on line length so a
// client cannot make the server buffer without bound. Pure: no I/O.

#include <cstddef>
#include <string>
#include <string_view>

namespace popbox::core {

class LineReader {
 public:
  explicit LineReader(std::size_t max_line) : max_line_(max_line) {}

  enum class Result { line, need_more, too_long };

  /// Appends bytes received from the peer.
  void feed(std::string_view data);
  /// Takes the next complete line (CRLF or bare LF removed) into `line`; the
  /// view is valid until the next call to feed() or next(). Once everything
  /// buffered has been taken, the buffer is freed (an idle reader holds no
  /// heap memory).
  Result next(std::string_view& line);
  /// Drops everything buffered (after STLS: no plaintext may leak into TLS).
  void discard() noexcept { release(); }
  /// Bytes received but not yet returned as lines.
  std::size_t buffered() const noexcept { return buf_.size() - pos_; }
  /// Those bytes themselves (for a body that follows a command, as in
  /// LMTP DATA); valid until the next call to feed() or consume().
  std::string_view buffered_data() const noexcept { return std::string_view(buf_).substr(pos_); }
  /// Marks the first `n` buffered bytes as used.
  void consume(std::size_t n) noexcept { pos_ += n < buffered() ? n : buffered(); }
  /// Bytes of memory the buffer holds (for tests of the idle footprint).
  std::size_t capacity() const noexcept { return buf_.capacity(); }

 private:
  /// Empties the buffer, freeing it when a burst made it large.
  void release() noexcept;

  std::size_t max_line_;
  std::string buf_;
  std::size_t pos_ = 0;  // start of the first unread byte
};

}  // namespace popbox::core
