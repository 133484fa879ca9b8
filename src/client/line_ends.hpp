#pragma once
// Streaming transforms from the wire form of a message (CRLF line ends, as
// the DotDecoder yields it) to local forms: LF line ends for Maildir, mbox
// and MDAs, and mboxrd ">From " quoting. Pure, split-invariant.

#include <cstdint>
#include <string>
#include <string_view>

namespace popbox::client {

/// CRLF -> LF; a CR not followed by LF is kept.
class CrlfToLf {
 public:
  /// Appends the converted form of `in` to `out`.
  void convert(std::string_view in, std::string& out);
  /// Flushes a CR held back at the end of the input.
  void finish(std::string& out);

 private:
  bool pending_cr_ = false;
};

/// mboxrd quoting: a line matching /^>*From / gets one more '>' in front,
/// so a reader can undo it and no body line starts a new message.
class FromQuoter {
 public:
  /// Appends the quoted form of `in` (LF line ends) to `out`.
  void quote(std::string_view in, std::string& out);
  /// Flushes a held-back line start at the end of the message.
  void finish(std::string& out);

 private:
  void flush_held(std::string& out, bool quoted);

  bool at_line_start_ = true;
  bool deciding_ = false;      // inside a line start that may still be ">*From "
  std::uint64_t held_gt_ = 0;  // '>' characters held back
  std::size_t held_from_ = 0;  // characters of "From " matched
};

}  // namespace popbox::client
