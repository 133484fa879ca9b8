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

/// Scratch space for one getpwnam_r/getgrnam_r lookup of [server] user and
/// group (glibc suggests 1 KiB; large NSS group entries need more).
inline constexpr std::size_t account_lookup_buffer = 16 * 1024;

}  // namespace popbox::limits
