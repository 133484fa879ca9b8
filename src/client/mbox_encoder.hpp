#pragma once
// The stored form of a message in an mbox, as a pure streaming transform:
// a "From " line (with the envelope sender of the Return-Path: header when
// there is one), mboxrd quoting, LF line ends, a blank line after. No I/O.

#include <cstdint>
#include <string>
#include <string_view>

#include "client/line_ends.hpp"

namespace popbox::client {

/// One message in the stored form of an mbox: the "From " line, mboxrd
/// quoting, LF line ends and a blank line after (streaming; the start is
/// held back until the header names the envelope sender).
class MboxEncoder {
 public:
  /// `from_time` (unix seconds) goes into the "From " line.
  explicit MboxEncoder(std::int64_t from_time);
  /// Appends to `out` the stored form of the next `wire` bytes (CRLF ends).
  void encode(std::string_view wire, std::string& out);
  /// Appends the rest: the message is complete in `out`.
  void finish(std::string& out);

 private:
  void hold(std::string& out);
  void release(std::string& out);

  std::int64_t from_time_;
  bool from_written_ = false;
  std::string head_;  // the start of the message, until its header is complete
  CrlfToLf crlf_;
  FromQuoter quoter_;
  std::string lf_, quoted_;
};

/// The "From " line popbox writes: "From SENDER <asctime UTC>\n"; SENDER
/// is the envelope sender, MAILER-DAEMON when there is none.
std::string mbox_from_line(std::int64_t unix_time, std::string_view sender = "MAILER-DAEMON");

/// The envelope sender named by the first "Return-Path:" line of `head`
/// (a message header, LF line ends; a last line without LF is ignored), or
/// "" when there is none or it is unusable in a "From " line; "<>" gives
/// "MAILER-DAEMON".
std::string mbox_envelope_sender(std::string_view head);

}  // namespace popbox::client
