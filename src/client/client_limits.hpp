#pragma once
// Every fixed limit of `popbox fetch` in one place. Operator-tunable values
// (timeout, max_size) are keys of the fetch config instead.

#include <chrono>
#include <cstddef>

namespace popbox::client::limits {

/// Longest status or listing line accepted from a server, CRLF included.
inline constexpr std::size_t max_line = 8192;

/// Commands in flight at once when the server offers PIPELINING: enough to
/// keep the link busy, small enough (a few hundred bytes of commands) that
/// writing them can never block while the server blocks writing to us.
inline constexpr std::size_t pipeline_window = 64;

/// Longest command line with a SASL initial response (RFC 5034, RFC 2449).
inline constexpr std::size_t max_command = 255;

/// Default deadline of every read and write (the `timeout` key).
inline constexpr std::chrono::seconds default_timeout{60};

/// Messages written to a Maildir before one directory fsync and one SQLite
/// commit make them durable and recorded together (their DELEs follow).
inline constexpr std::size_t maildir_batch = 32;

/// How long an MDA command may take to read one message and exit (Postfix's
/// command_time_limit default); a hung MDA is killed and the message stays
/// on the server.
inline constexpr std::chrono::seconds mda_timeout{1000};

/// Deadline of the TLS handshake.
inline constexpr std::chrono::seconds tls_handshake_timeout{30};

/// Bytes read from the socket at once; also the most a body event carries.
inline constexpr std::size_t read_block = 64 * 1024;

/// Known (non-pending) UIDLs needed before "none of the server's UIDLs is
/// known" counts as "all UIDLs changed" rather than a new mailbox.
inline constexpr std::size_t uidl_change_threshold = 10;

/// Longest password or token read from password_command or ~/.netrc.
inline constexpr std::size_t max_secret = 64 * 1024;

/// The progress bar is redrawn at most this often.
inline constexpr std::chrono::milliseconds progress_interval{100};

}  // namespace popbox::client::limits
