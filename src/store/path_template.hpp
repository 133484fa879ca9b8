#pragma once
// Maps a user name to the directory of its Maildir, Dovecot style:
// "/var/mail/%d/%n/Maildir".

#include <string>
#include <string_view>
#include <system_error>

namespace popbox::store {

/// A mailbox path template. Escapes: %u the whole user name, %n the part
/// before the first '@', %d the part after it (empty without '@'), %% a '%'.
class PathTemplate {
 public:
  /// Checks the template; throws std::invalid_argument when it is not an
  /// absolute path, uses an unknown escape, or has a "." or ".." component
  /// (a configuration error, found at startup).
  explicit PathTemplate(std::string text);

  /// The Maildir path of `user`, or "" with ec = store_errc::bad_path when the
  /// name could leave the intended directory: it contains '/' or NUL, a used
  /// part is empty, "." or "..", or it is longer than limits::max_user_name.
  /// Exception: %d of a user without '@' may be empty when the template also
  /// uses %u or %n ("/m/%d/%n" maps "bob" to "/m//bob").
  std::string expand(std::string_view user, std::error_code& ec) const;

  /// The template as configured.
  const std::string& text() const noexcept { return text_; }

 private:
  std::string text_;
  bool per_user_ = false;  // uses %u or %n, so paths differ per local part
};

}  // namespace popbox::store
