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

// --- Connection and login limits (issue 7) -------------------------------

/// Longest wait a failed-login penalty can impose before an answer; the wait
/// doubles from [auth] failure_delay per failure up to this (Dovecot's
/// auth penalty stops at 15 s too).
inline constexpr std::chrono::seconds max_auth_penalty_delay{15};

/// A penalty entry (an IP or a user name) is forgotten this long after its
/// last failed login.
inline constexpr std::chrono::hours auth_penalty_forget{1};

/// An IP over [limits] auth_failures_per_ip is refused this long after its
/// last failure.
inline constexpr std::chrono::minutes auth_block_time{15};

/// Entries the failed-login table keeps (IPs and user names together); past
/// it the oldest are evicted, so a spray of addresses cannot grow memory.
inline constexpr std::size_t auth_penalty_entries = 65536;

/// Threads that verify passwords, separate from the mail-I/O pool so that a
/// login flood cannot delay RETR or commit of logged-in users.
inline constexpr unsigned auth_threads = 2;

/// Password checks waiting for (or running on) the auth threads; beyond it a
/// login gets -ERR [SYS/TEMP] at once instead of queueing.
inline constexpr std::size_t auth_queue_depth = 64;

/// Password checks one IP (/64) may have queued or running at once.
inline constexpr std::size_t auth_per_ip_concurrency = 4;

/// IPv6 clients are grouped by this prefix for every per-IP limit: one
/// subscriber usually gets a whole /64.
inline constexpr int ipv6_client_prefix = 64;

/// Longest PROXY protocol header accepted (v1 is at most 107 octets; v2 is
/// 16 octets plus addresses and TLVs, which HAProxy keeps small).
inline constexpr std::size_t max_proxy_header = 4096;

/// Time left to write the final -ERR after the login deadline passed.
inline constexpr std::chrono::seconds goodbye_timeout{2};

/// File descriptors kept aside for listeners, logs, the passwd file and
/// Maildir scans when computing how many sessions RLIMIT_NOFILE allows.
inline constexpr std::size_t reserved_fds = 64;

/// File descriptors one session may hold at once (its socket and an open
/// message file).
inline constexpr std::size_t fds_per_session = 2;

/// Sessions (POP3 and LMTP together) an open-files limit of `fds` allows.
constexpr std::size_t sessions_for_fd_limit(unsigned long long fds) {
  return fds > reserved_fds ? static_cast<std::size_t>((fds - reserved_fds) / fds_per_session) : 0;
}

}  // namespace popbox::limits
