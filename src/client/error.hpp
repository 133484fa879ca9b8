#pragma once
// The error category of `popbox fetch`: what went wrong for an account, and
// the sysexits code the command reports for it.

#include <string>
#include <system_error>

namespace popbox::client {

/// Kinds of failure, each with its own exit code (see docs/fetch.md).
enum class fetch_errc {
  config = 1,      ///< EX_CONFIG: the fetch config or a key in it is unusable
  unavailable,     ///< EX_UNAVAILABLE: host unknown, connection refused
  temporary,       ///< EX_TEMPFAIL: timeout, dropped connection, [IN-USE], [SYS/TEMP]
  tls,             ///< EX_PROTOCOL: handshake, certificate or pin verification failed
  protocol,        ///< EX_PROTOCOL: the server broke POP3 (or lacks UIDL)
  auth,            ///< EX_NOPERM: credentials refused or unobtainable
  cant_create,     ///< EX_CANTCREAT: the delivery target cannot be opened or created
  io,              ///< EX_IOERR: writing to the target, the MDA or LMTP failed
  state,           ///< EX_CANTCREAT: the UIDL state database is unusable
  uidls_changed,   ///< EX_DATAERR: every UIDL changed; refused without --accept-new-uidls
  login_required,  ///< EX_NOPERM: no OAuth tokens, or the refresh token was revoked/expired
};

/// The "popbox.fetch" category.
const std::error_category& fetch_category() noexcept;
inline std::error_code make_error_code(fetch_errc e) noexcept {
  return {static_cast<int>(e), fetch_category()};
}

/// A failure with the detail a user needs ("certificate has expired", the
/// server's -ERR text); empty when all went well.
struct Failure {
  std::error_code code;
  std::string message;
  /// The server refused the credentials themselves (-ERR [AUTH], or -ERR
  /// with no response code at all): a fresh token may be accepted.
  bool credentials_refused = false;
  explicit operator bool() const noexcept { return static_cast<bool>(code); }
};

/// Builds a Failure of kind `e` with `message`.
inline Failure fail(fetch_errc e, std::string message) {
  return {make_error_code(e), std::move(message)};
}

/// The sysexits code for a failure (0 for none).
int exit_code(const std::error_code& ec) noexcept;

}  // namespace popbox::client

template <>
struct std::is_error_code_enum<popbox::client::fetch_errc> : std::true_type {};
