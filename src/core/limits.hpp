#pragma once
// Every fixed limit of popbox in one place, so a reviewer sees them together
// (like popa3d's params.h). Operator-tunable values live in the config
// instead (see config/config.hpp). Each group is its own section; docs/
// DESIGN.md's limits table lists every constant here.

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace popbox::limits {

/// ---- POP3 server: commands and sessions -----------------------------------

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

/// While streaming a message, the POP3 session asks for a write once less
/// than this is left below max_pending_output, so the writes are large.
inline constexpr std::size_t stream_min_room = 16 * 1024;

/// RFC 1939 section 3: the autologout timer is at least 10 minutes.
inline constexpr std::chrono::seconds min_rfc_idle_timeout{600};

/// Time a client has to finish the TLS handshake.
inline constexpr std::chrono::seconds tls_handshake_timeout{30};

/// Time a client has to answer our TLS close_notify before the socket closes.
inline constexpr std::chrono::seconds tls_shutdown_timeout{2};

/// Grace period for sessions to finish after SIGTERM before they are cut.
inline constexpr std::chrono::seconds shutdown_grace{10};

/// How often shutdown looks whether every session has ended.
inline constexpr std::chrono::milliseconds shutdown_poll{20};

/// Pause after a failed accept (EMFILE and friends) instead of spinning.
inline constexpr std::chrono::milliseconds accept_backoff{100};

/// Longest user name accepted (bytes).
inline constexpr std::size_t max_user_name = 255;

/// ---- Admin socket (`popbox who`, `kick`, `mailbox`, `expunge`, `reload`) ------

/// Longest admin request (one JSON line); a longer one gets an error reply.
inline constexpr std::size_t admin_max_request = 4096;

/// Time a client of the admin socket has to send its whole request.
inline constexpr std::chrono::seconds admin_request_timeout{5};

/// Time the server has to write a reply before it drops the admin client.
inline constexpr std::chrono::seconds admin_reply_timeout{30};

/// Admin connections served at once; more are answered with an error.
inline constexpr std::size_t admin_max_connections = 8;

/// Messages an expunge reply lists per user (the counts cover them all).
inline constexpr std::size_t admin_listed_messages = 1000;

/// How long `popbox who|kick|mailbox|reload` wait for the reply (expunge
/// of every user may take long: it waits admin_expunge_wait).
inline constexpr std::chrono::seconds admin_client_wait{60};

/// How long `popbox expunge` waits for the server's reply.
inline constexpr std::chrono::seconds admin_expunge_wait{3600};

/// ---- Connections and logins: what one address may cost ----------------

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

/// Entries the failed-login table keeps, for IPs and for user names each;
/// past it the oldest are evicted (a blocked IP never), so a spray of
/// addresses or names cannot grow memory.
inline constexpr std::size_t auth_penalty_entries = 65536;
/// Entries a full failed-login table evicts at once (so inserts do not scan
/// the table each time).
inline constexpr std::size_t auth_penalty_evict_batch = 4096;

/// Threads that verify passwords, separate from the mail-I/O pool so that a
/// login flood cannot delay RETR or commit of logged-in users.
inline constexpr unsigned auth_threads = 2;

/// Password checks waiting for (or running on) the auth threads; beyond it a
/// login gets -ERR [SYS/TEMP] at once instead of queueing.
inline constexpr std::size_t auth_queue_depth = 64;

/// Password checks one IP (/64) may have queued or running at once; more
/// from the same address wait their turn (a NAT or a webmail front end logs
/// many users in at once) until the login deadline.
inline constexpr std::size_t auth_per_ip_concurrency = 4;

/// How often a check waiting for its address's turn looks again: from the
/// first value, doubling up to the second.
inline constexpr std::chrono::milliseconds auth_turn_poll_first{5};
inline constexpr std::chrono::milliseconds auth_turn_poll_most{50};

/// Locks the verified-credentials cache ([auth] cache_ttl, cache_size) is
/// split into, chosen by user name, so event threads rarely wait for each
/// other on a cached login.
inline constexpr std::size_t credential_cache_shards = 64;

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

/// ---- Server output and buffers: what one connection may hold in memory ----

/// Unsent reply bytes one connection may hold (POP3 and LMTP). Above this
/// the server answers no further buffered (pipelined) line and reads nothing
/// more until the peer has taken the output, so a client that pipelines and
/// never reads costs at most this much, not its input times the reply size.
inline constexpr std::size_t max_pending_output = 256 * 1024;

/// Most bytes of a LIST or UIDL listing the POP3 session writes at once; a
/// longer listing comes in pieces the driver asks for after flushing.
inline constexpr std::size_t listing_piece = 64 * 1024;
static_assert(listing_piece <= max_pending_output, "a listing piece must fit the output bound");

/// An empty input or output buffer whose capacity grew beyond this during a
/// burst is freed, so an idle connection holds no large buffer.
inline constexpr std::size_t retained_buffer = 16 * 1024;

/// Bytes read from a POP3 client at once (plain or TLS), into the event
/// thread's buffer: an idle connection holds no read buffer.
inline constexpr std::size_t pop3_read_block = 16 * 1024;

/// ---- LMTP server -----------------------------------------------------------

/// A peer that sends nothing for this long is dropped (RFC 5321 4.5.3.2
/// suggests 5 minutes for commands and 10 for data blocks).
inline constexpr std::chrono::seconds lmtp_timeout{5 * 60};

/// Bad LMTP commands tolerated before "421 Too many errors" and close.
inline constexpr int lmtp_max_errors = 20;

/// RCPT TO accepted per transaction; more get "452 Too many recipients"
/// (RFC 5321 4.5.3.1.8 asks for at least 100).
inline constexpr std::size_t lmtp_max_recipients = 1000;

/// Bytes read from an LMTP peer at once (DATA bodies come in such blocks).
inline constexpr std::size_t lmtp_read_block = 64 * 1024;

/// Bytes of a message being received kept in memory before it moves to an
/// unnamed temporary file (core::Spool).
inline constexpr std::size_t spool_memory = 1024 * 1024;

/// Block size when a spooled message is read back from its file.
inline constexpr std::size_t spool_block = 256 * 1024;

/// ---- SMTP receiver (`popbox sandbox`) ---------------------------------------

/// Longest SMTP input line, CRLF included: RFC 4954 section 4 lets AUTH
/// lines reach 12288 octets (RFC 5321's 512 is for commands alone).
inline constexpr std::size_t smtp_max_line = 12288;

/// Bad SMTP commands tolerated before "421 Too many errors" and close.
inline constexpr int smtp_max_errors = 20;

/// Failed AUTH attempts on one connection before it is closed.
inline constexpr int smtp_max_auth_failures = 3;

/// RCPT TO accepted per transaction; more get "452 Too many recipients"
/// (RFC 5321 4.5.3.1.8 asks for at least 100).
inline constexpr std::size_t smtp_max_recipients = 1000;

/// A peer that sends nothing for this long is dropped (RFC 5321 4.5.3.2).
inline constexpr std::chrono::seconds smtp_timeout{5 * 60};

/// Bytes read from an SMTP peer at once (DATA bodies come in such blocks).
inline constexpr std::size_t smtp_read_block = 64 * 1024;

/// Longest delay an injected smtp_delay/pop3_delay fault may ask for.
inline constexpr std::chrono::milliseconds max_fault_delay{60'000};

/// ---- Sandbox inboxes (`popbox sandbox`) ---------------------------------------

/// How often expired inboxes are looked for and removed.
inline constexpr std::chrono::seconds sandbox_sweep_interval{1};

/// Longest inbox address accepted (RFC 5321 4.5.3.1.3: a path is 256
/// octets with its angle brackets).
inline constexpr std::size_t sandbox_max_address = 254;

/// Longest inbox password accepted.
inline constexpr std::size_t sandbox_max_password = 1024;

/// Largest inbox metadata file read back at start (a larger one is not one
/// popbox wrote).
inline constexpr std::size_t sandbox_max_meta_bytes = std::size_t{256} << 20;

/// POP3/POP3S sessions the sandbox serves at once, all from one address if
/// need be (a test suite's parallel workers on 127.0.0.1): a developer's
/// machine, not the internet, and within a default open-files limit.
inline constexpr std::size_t sandbox_pop3_connections = 500;

/// ---- Load generator (`popbox bench`) ---------------------------------------

/// Bytes read from the server under test at once: one buffer per session,
/// large so an 8 MB RETR costs few reads.
inline constexpr std::size_t bench_read_block = 256 * 1024;

/// The read buffer of an idle session: reply lines only, and 10,000 of them.
inline constexpr std::size_t bench_idle_read_block = 4 * 1024;

/// Pause after a failed bench session, so a refusing server is not spun on.
inline constexpr std::chrono::milliseconds bench_retry_pause{10};

/// The longest the bench waits for a connect, a write or a reply.
inline constexpr std::chrono::seconds bench_reply_timeout{60};

/// RETR/TOP commands a bench session has in flight (a pipelining client).
inline constexpr unsigned bench_pipeline = 32;

/// How often a held idle session sends NOOP (servers log out at 10 min).
inline constexpr std::chrono::seconds bench_idle_noop{60};

/// How long the idle scenario keeps logging sessions in: a server that
/// stops answering (out of descriptors or processes) must not make the
/// bench wait a reply timeout per remaining session. 10,000 SHA512-CRYPT
/// logins take about 25 s here.
inline constexpr std::chrono::seconds bench_idle_login_phase{180};

/// Characters of an error reply kept as its key in "errors by reply".
inline constexpr std::size_t bench_error_text = 80;

/// ---- Authentication: SCRAM -------------------------------------------------

/// SCRAM-SHA-256 secrets popbox writes: doveadm's defaults (RFC 7677 asks
/// for at least 4096 iterations).
inline constexpr unsigned scram_iterations = 4096;
inline constexpr std::size_t scram_salt_bytes = 16;

/// Highest iteration count accepted in a stored SCRAM secret: checking a
/// PASS against it runs PBKDF2 that many times.
inline constexpr unsigned max_scram_iterations = 1'000'000;

/// Random bytes in the server's part of the SCRAM nonce (base64, 24 chars).
inline constexpr std::size_t scram_nonce_bytes = 18;

/// Least bytes in an [auth] scram_fake_secret_file (the key of made-up salts).
inline constexpr std::size_t scram_fake_secret_min_bytes = 32;

/// ---- Authentication: OAuth bearer tokens (JWT, RFC 7519 / RFC 9068) -------

/// Longest JWT accepted (bytes of the compact form). Real access tokens are
/// 1-3 KB; the SASL line (max_line, base64) bounds what a client can send.
inline constexpr std::size_t max_jwt = 6144;

/// Clock skew tolerated when checking `exp` and `nbf` (RFC 7519 4.1.4).
inline constexpr std::chrono::seconds jwt_leeway{60};

/// Smallest RSA key accepted for RS256 signatures (RFC 7518 3.3).
inline constexpr unsigned min_rsa_bits = 2048;

/// ---- Privileges ------------------------------------------------------------

/// Scratch space for one getpwnam_r/getgrnam_r lookup of [server] user and
/// group (glibc suggests 1 KiB; large NSS group entries need more).
inline constexpr std::size_t account_lookup_buffer = 16 * 1024;

/// ---- Maildir store -----------------------------------------------------------

/// Dovecot's MAILDIR_SYNC_SECS: new/ or cur/ modified this close to the
/// moment it was listed (or later) is "dirty": another change within the
/// same timestamp would go unseen, so the next login lists it again instead
/// of trusting popbox-snapshot. Also covers clock drift between NFS clients.
inline constexpr std::chrono::seconds maildir_sync_window{1};

/// A larger popbox-snapshot is not one popbox wrote (~4 million messages).
inline constexpr std::size_t max_snapshot_bytes = std::size_t{1} << 30;

/// Helper threads a listing may add to stat and measure message files in
/// parallel, process-wide (a login of a never-seen maildrop reads every
/// file; more requests in flight let the disk and the cores overlap them).
/// Each holds one measure_block buffer; loads that find none free run alone.
inline constexpr std::size_t maildir_scan_threads = 16;

/// Files per helper thread: a listing of fewer runs serially (a thread
/// costs more than a few hundred cached stats).
inline constexpr std::size_t maildir_scan_files_per_thread = 256;

/// Files a scanning thread takes at a time from the shared work list.
inline constexpr std::size_t maildir_scan_chunk = 32;

/// Read size when measuring a message's RETR size (one buffer per thread).
inline constexpr std::size_t maildir_measure_block = 64 * 1024;

/// ---- PostgreSQL store ([store] backend = "postgres") -------------------------

/// Bytes of one body_chunks row: RETR reads a message a few chunks at a
/// time, so a 50 MiB message never sits in memory whole.
inline constexpr std::size_t pg_body_chunk = 256 * 1024;

/// Chunks one query of a RETR fetches (pg_body_chunk each: 1 MiB per round trip).
inline constexpr int pg_fetch_chunks = 4;

/// How long a pool borrower waits for a connection when all pool_size are
/// lent, before it fails with a temporary error.
inline constexpr std::chrono::seconds pg_pool_wait{5};

/// Connections of the users table's own pool ([auth] source = "postgres"):
/// one lookup per login or recipient, short queries; apart from the
/// store's pool so mail work never keeps logins waiting.
inline constexpr std::size_t pg_user_pool_size = 4;

/// ---- Metrics endpoint ([metrics] listen) -------------------------------------

/// Scrape connections open at once: Prometheus scrapes one at a time; a
/// connection beyond this is closed as soon as it is accepted.
inline constexpr std::size_t metrics_max_connections = 8;

/// Deadline of a whole scrape connection, from accept to close: a client
/// that dribbles bytes holds a connection for at most this long.
inline constexpr std::chrono::seconds metrics_timeout{5};

/// Largest request head (request line and headers) read; requests have
/// no body (a body is refused with 413).
inline constexpr std::size_t metrics_max_request_head = 4096;

/// Input read and dropped after a scrape's reply, so that closing does not
/// reset the connection before the client has read the reply.
inline constexpr std::size_t metrics_max_discard = 64 * 1024;

/// ---- Sandbox HTTP API (`popbox sandbox --http`) -----------------------------

/// Connections open at once (each wait and SSE stream holds one); beyond:
/// closed at once. Room for thousands of concurrent waits.
inline constexpr std::size_t http_max_connections = 8192;

/// Request line + headers of one request.
inline constexpr std::size_t http_max_request_head = 16 * 1024;

/// Request body (JSON of inbox, webhook and fault settings).
inline constexpr std::size_t http_max_request_body = 64 * 1024;

/// Time a client has to send a whole request once it has started one.
inline constexpr std::chrono::seconds http_request_timeout{30};

/// Idle keep-alive connection closed after this long without a request.
inline constexpr std::chrono::seconds http_idle_timeout{60};

/// Time a client has to take each response write (a stalled reader is cut).
inline constexpr std::chrono::seconds http_write_timeout{30};

/// Event threads of the HTTP server (one io_context each).
inline constexpr unsigned http_threads = 2;

/// Threads of the sandbox API's blocking pool (raw reads, MIME parsing, deletes).
inline constexpr unsigned http_blocking_threads = 2;

/// Default and longest timeout of GET .../wait.
inline constexpr std::chrono::seconds sandbox_wait_default{30};
inline constexpr std::chrono::seconds sandbox_wait_max{300};

/// Most messages one wait may ask for (count=).
inline constexpr std::size_t sandbox_wait_max_count = 1000;

/// Longest regex pattern of a wait (subject=, from=, body=).
inline constexpr std::size_t sandbox_max_pattern = 256;

/// Text a wait's regex is run over (subject, from, body), cut beyond: bounds
/// the cost of a backtracking pattern, and the stack libstdc++'s recursive
/// regex executor takes (a few hundred bytes per input character).
inline constexpr std::size_t sandbox_match_input = 4 * 1024;

/// Parsed messages kept in memory for lists, waits and events.
inline constexpr std::size_t sandbox_parse_cache = 2048;

/// Events queued for one SSE client; a client further behind is dropped.
inline constexpr std::size_t sandbox_sse_queue = 1024;

/// Comment line sent to an idle SSE stream so proxies and clients see life.
inline constexpr std::chrono::seconds sandbox_sse_keepalive{15};

/// Longest message listing page (limit=).
inline constexpr std::size_t sandbox_max_page = 1000;

/// Webhook attempts per event, the first backoff and its cap.
inline constexpr int webhook_max_attempts = 8;
inline constexpr std::chrono::seconds webhook_first_backoff{1};
inline constexpr std::chrono::seconds webhook_max_backoff{60};

/// Whole-request timeout of one webhook POST (connect included).
inline constexpr std::chrono::seconds webhook_timeout{10};

/// Deliveries kept per inbox in the webhook delivery log (oldest dropped).
inline constexpr std::size_t webhook_log_entries = 100;

/// Deliveries waiting to be sent or retried, all inboxes; beyond: dropped
/// and logged as failed.
inline constexpr std::size_t webhook_queue = 4096;

/// Longest webhook URL.
inline constexpr std::size_t webhook_max_url = 2048;

/// MIME: nesting depth and parts of one message walked; deeper/more parts
/// are ignored.
inline constexpr int mime_max_depth = 32;
inline constexpr std::size_t mime_max_parts = 1000;

/// Characters of text in a message summary's snippet.
inline constexpr std::size_t mime_snippet_chars = 200;

/// Links collected from one message.
inline constexpr std::size_t mime_max_links = 1000;

}  // namespace popbox::limits

/// ---- POP3 client (`popbox fetch`) ------------------------------------------
/// Operator-tunable values (timeout, max_size) are keys of the fetch config.
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

/// mbox messages batched in memory before one SQLite commit of their
/// intents (with the records of the batch before), one write, one fsync.
inline constexpr std::size_t mbox_batch = 32;

/// Bytes of a batch held in memory before they go to the mbox (intents
/// first); a larger message streams on into the file.
inline constexpr std::size_t mbox_batch_bytes = 4 * 1024 * 1024;

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

/// Entries accepted in one UIDL or one LIST reply: a larger maildrop is
/// refused with a clear error instead of growing memory without end (about
/// 100 bytes per entry: some tens of MiB at the bound).
inline constexpr std::size_t max_listing = 250'000;

/// Default of `[fetch] max_messages_per_run`: messages one run downloads
/// at most; the rest wait for the next run.
inline constexpr std::size_t default_max_messages_per_run = 10'000;

/// Bytes one account run downloads at most. The plan stops before the
/// listed sizes pass it (the rest wait for the next run); a server that
/// sends more than it listed is cut off here.
inline constexpr std::uint64_t max_run_bytes = std::uint64_t{16} << 30;

/// Bytes of an abandoned message (grown past max_size while downloading)
/// read and thrown away to reach its end and keep the session in step;
/// beyond that the connection is dropped.
inline constexpr std::uint64_t max_discard = std::uint64_t{64} << 20;

/// Known (non-pending) UIDLs needed before "none of the server's UIDLs is
/// known" counts as "all UIDLs changed" rather than a new mailbox.
inline constexpr std::size_t uidl_change_threshold = 10;

/// Start of a message held back before an mbox "From " line is written,
/// looking for the end of the header and its Return-Path: (a header longer
/// than this gets MAILER-DAEMON unless the Return-Path: came first).
inline constexpr std::size_t mbox_header_scan = 64 * 1024;

/// Longest envelope sender put into an mbox "From " line (RFC 5321's path
/// limit is 256 octets with the angle brackets).
inline constexpr std::size_t mbox_max_sender = 254;

/// Longest password or token read from password_command or ~/.netrc.
inline constexpr std::size_t max_secret = 64 * 1024;

/// The progress bar is redrawn at most this often.
inline constexpr std::chrono::milliseconds progress_interval{100};

/// ---- `popbox fetch --daemon` ----
/// Default time between two runs of an account (`[fetch] poll`, `poll`).
inline constexpr std::chrono::seconds default_poll{300};

/// Shortest poll interval accepted: a daemon must not hammer a server.
inline constexpr std::chrono::seconds min_poll{1};

/// Longest poll interval accepted (a week): beyond it, use a timer unit.
inline constexpr std::chrono::seconds max_poll{7 * 24 * 3600};

/// Random delay added to every scheduled run: up to 1/jitter_divisor of the
/// interval (10 %), so accounts polled alike spread out instead of
/// hitting their servers in step.
inline constexpr int jitter_divisor = 10;

/// The jitter never exceeds this, however long the interval.
inline constexpr std::chrono::seconds max_jitter{60};

/// After the n-th failure in a row the next run waits poll * 2^n, at most
/// this long (a server that is down is not hammered, one that is back is
/// retried within the hour).
inline constexpr std::chrono::seconds max_backoff{3600};

/// Failures in a row counted for the backoff exponent (2^10 * poll is far
/// past max_backoff for any poll; keeps the shift defined).
inline constexpr int max_backoff_doublings = 10;

/// ---- OAuth2 sign-in (`popbox fetch login`, token refresh) ----
/// Largest HTTP response body read from an OAuth endpoint (token, device
/// authorization); more is an error, never a partial parse.
inline constexpr std::size_t oauth_max_response = 64 * 1024;

/// Whole HTTP exchange with an OAuth endpoint, connect to last byte.
inline constexpr std::chrono::seconds oauth_http_timeout{30};

/// A refresh happens when the access token expires within this margin.
inline constexpr std::chrono::seconds oauth_refresh_margin{60};

/// How long the loopback redirect listener waits for the browser.
inline constexpr std::chrono::seconds oauth_redirect_timeout{300};

/// Request head of the browser's redirect to the loopback listener.
inline constexpr std::size_t oauth_redirect_header = 8 * 1024;

/// Device flow: the poll interval when the provider names none (RFC 8628 3.2),
/// and what each `slow_down` adds (RFC 8628 3.5).
inline constexpr std::chrono::seconds oauth_device_interval{5};
inline constexpr std::chrono::seconds oauth_slow_down_step{5};

/// Device flow: the longest wait the client accepts from a provider
/// (interval or expires_in beyond it are clamped).
inline constexpr std::chrono::seconds oauth_device_max_wait{1800};

/// Loopback redirect listener: connections at once (the browser may open a
/// few) and the deadline of each request.
inline constexpr std::size_t oauth_redirect_connections = 4;
inline constexpr std::chrono::seconds oauth_redirect_deadline{10};

/// Longest expires_in believed from a token endpoint (longer is clamped).
inline constexpr std::chrono::seconds oauth_max_expires_in{10LL * 365 * 86400};

/// A provider's error text shown to the user (error + description).
inline constexpr std::size_t oauth_max_error_text = 300;

/// Device flow: longest user_code and verification URL accepted.
inline constexpr std::size_t oauth_max_user_code = 64;
inline constexpr std::size_t oauth_max_url = 2048;

/// How long a run or a login waits for the other's token store lock
/// (NAME.oauth.lock, held only around load, refresh and save).
inline constexpr std::chrono::seconds oauth_store_lock_wait{60};

}  // namespace popbox::client::limits
