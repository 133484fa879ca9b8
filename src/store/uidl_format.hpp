#pragma once
// Dovecot's pop3_uidl_format, so popbox can compute the UIDL Dovecot showed
// for a message it listed in dovecot-uidlist. The syntax is Dovecot's
// var_expand: %[-][0][width][.[0][-]width][modifiers]key, see docs/uidl.md.
// Pure string code.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace popbox::store {

/// What a Dovecot UIDL format can refer to for one message.
struct DovecotUidlVars {
  std::uint32_t uid = 0;          ///< %u, %{uid}: the IMAP UID in dovecot-uidlist
  std::uint32_t uidvalidity = 0;  ///< %v, %{uidvalidity}: from its header
  std::string_view filename;      ///< %f, %{filename}: the Maildir BASE (up to ':')
  std::string_view guid;          ///< %g, %{guid}: the G field, else the BASE
};

/// A parsed `[mail] uidl_format`: "popbox" or a Dovecot pop3_uidl_format.
class UidlFormat {
 public:
  /// Dovecot 2.x's default, "%08Xu%08Xv" (what "popbox" stands for).
  UidlFormat();
  /// Parses `text`. Throws std::invalid_argument naming the problem for what
  /// Dovecot could not expand for a Maildir either (%m), unknown variables,
  /// and the hash modifiers H, N and D, which popbox does not emulate.
  explicit UidlFormat(std::string_view text);

  /// The UIDL Dovecot computed from `vars` (not checked for RFC 1939 rules).
  std::string expand(const DovecotUidlVars& vars) const;

  /// The text it was parsed from.
  const std::string& text() const noexcept { return text_; }

 private:
  struct Part {
    std::string literal;  // used when key == 0
    char key = 0;         // 'u', 'v', 'f', 'g' or '%'
    bool zero_padding = false;
    int offset = 0;
    int width = 0;
    std::string modifiers;
  };
  std::string text_;
  std::vector<Part> parts_;
};

}  // namespace popbox::store
