#pragma once
// A message's wire form (CRLF line ends, final CRLF: what PostgreSQL keeps
// and RETR sends) to the LF form Maildir readers expect, such that the
// Maildir store's RETR gives back the same octets. Plain CRLF -> LF is not
// enough: "x\r\r\n" would become "x\r\n", which RETR sends as "x\r\n". So
// a CRLF whose CR follows another CR stays CRLF. Pure, blocks cut anywhere.

#include <string>
#include <string_view>

namespace popbox::store::migrate {

/// Converts wire form to Maildir form across block boundaries.
class WireToMaildir {
 public:
  /// Appends the Maildir form of the next `block` of wire form to `out`.
  void convert(std::string_view block, std::string& out);
  /// Ends the message (a CR held back at the very end is content).
  void finish(std::string& out);

 private:
  bool held_cr_ = false;       ///< the last byte seen was a CR, not written yet
  bool cr_before_cr_ = false;  ///< the byte before that held CR was a CR too
};

/// The Maildir form of a whole message (tests, short texts).
std::string to_maildir_form(std::string_view wire);

}  // namespace popbox::store::migrate
