#pragma once
// Every fixed limit of popbox in one place, so a reviewer sees them together.
// Operator-tunable values live in the config instead (see config/config.hpp).

#include <chrono>
#include <cstddef>

namespace popbox::limits {

/// Longest input line accepted from a POP3 client, CRLF included. RFC 2449
/// caps commands at 255 octets; SASL responses may be longer, so allow more.
inline constexpr std::size_t max_line = 8192;

/// Unknown or malformed commands tolerated before the connection is closed.
inline constexpr int max_bad_commands = 10;

/// Failed logins tolerated on one connection before it is closed.
inline constexpr int max_auth_failures = 3;

/// Length limits of a UIDL (RFC 1939 section 7: 1 to 70 octets, 0x21-0x7E).
inline constexpr std::size_t max_uidl = 70;

/// Block size for streaming a message from disk to the client.
inline constexpr std::size_t message_chunk = 128 * 1024;

/// RFC 1939 section 3: the autologout timer is at least 10 minutes.
inline constexpr std::chrono::seconds min_rfc_idle_timeout{600};

/// Time a client has to finish the TLS handshake.
inline constexpr std::chrono::seconds tls_handshake_timeout{30};

/// Grace period for sessions to finish after SIGTERM before they are cut.
inline constexpr std::chrono::seconds shutdown_grace{10};

/// Longest user name accepted (bytes).
inline constexpr std::size_t max_user_name = 255;

// OAuth bearer tokens (JWT access tokens, RFC 7519 / RFC 9068).

/// Longest JWT accepted (bytes of the compact form). Real access tokens are
/// 1-3 KB; the SASL line (max_line, base64) bounds what a client can send.
inline constexpr std::size_t max_jwt = 6144;

/// Clock skew tolerated when checking `exp` and `nbf` (RFC 7519 4.1.4).
inline constexpr std::chrono::seconds jwt_leeway{60};

/// Smallest RSA key accepted for RS256 signatures (RFC 7518 3.3).
inline constexpr unsigned min_rsa_bits = 2048;

}  // namespace popbox::limits
