#pragma once
// Small vocabulary types shared by the fetch config, the pure POP3 client
// session and the drivers.

#include <optional>
#include <string_view>

namespace popbox::client {

/// How the connection is protected: TLS from the first byte (POP3S, RFC
/// 8314), STLS after the greeting (RFC 2595), or nothing (explicit only).
enum class TlsMode { implicit, starttls, none };

/// The authentication the client uses; `automatic` picks the strongest one
/// the server offers over the link.
enum class AuthMech { automatic, user, plain, login, apop, xoauth2, oauthbearer };

/// Parses "implicit" / "starttls" / "none".
std::optional<TlsMode> parse_tls_mode(std::string_view text);
/// Parses "auto", "user", "plain", "login", "apop", "xoauth2", "oauthbearer".
std::optional<AuthMech> parse_auth_mech(std::string_view text);
/// The config spelling of a mechanism ("auto", "plain", ...).
std::string_view auth_mech_name(AuthMech mech) noexcept;

}  // namespace popbox::client
