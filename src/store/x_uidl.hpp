#pragma once
// The X-UIDL header some older POP3 servers (qpopper, and Dovecot with
// pop3_reuse_xuidl) wrote into messages and showed as the UIDL. Finding it
// needs only the header section, collected block by block while a message is
// read for its size anyway.

#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace popbox::store::detail {

/// Headers beyond this many octets are not looked at.
inline constexpr std::size_t max_header_scan = 64 * 1024;

/// Collects the header section of a message from consecutive blocks.
class HeaderCollector {
 public:
  /// Feeds the next block of the message (any split).
  void add(std::string_view block);
  /// Declares the end of the message (a header without a body).
  void finish() noexcept;
  /// True once the header is known: blank line, max_header_scan, or finish().
  bool complete() const noexcept { return complete_; }
  /// The complete header lines (without the blank line); a line cut by
  /// max_header_scan is left out.
  std::string_view header() const noexcept;

 private:
  std::string buf_;
  std::size_t line_start_ = 0;  // start of the first line not yet seen whole
  std::size_t end_ = 0;         // length of header() once complete
  bool complete_ = false;
};

/// The value of the first `name` field (matched case-insensitively) of
/// `header`: continuation lines unfolded, surrounding white space removed.
std::optional<std::string> header_field(std::string_view header, std::string_view name);

/// Reads the header of message file `name` in `dir_fd` (no symlinks) and
/// returns its X-UIDL value, if any, in `out`.
std::error_code read_x_uidl(int dir_fd, const std::string& name, std::optional<std::string>& out);

}  // namespace popbox::store::detail
