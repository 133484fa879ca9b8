#pragma once
// The sandbox's inboxes as every part of `popbox sandbox` sees them: the
// SMTP receiver delivers into them, the POP3 side reads them, the HTTP API
// and the web UI list, read, wait on and change them. One implementation
// (InboxHub) keeps the messages in a store::Store (Maildir under --data,
// memory with --ephemeral); this interface lets the HTTP layer be tested
// against a fake.
//
// Threads: every member is thread-safe. Calls marked "answers from memory"
// never block and may run on an event thread; the others may touch the disk
// and belong on a blocking pool.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace popbox::sandbox {

using Clock = std::chrono::system_clock;

/// What POST /api/v1/inboxes asks for.
struct InboxSpec {
  std::string address;                      ///< a mail address; compared case-insensitively
  std::optional<std::string> password;      ///< none: any password logs in (unless strict auth)
  std::optional<std::chrono::seconds> ttl;  ///< none: the inbox never expires
  std::optional<std::size_t> max_messages;  ///< none: the --max-messages default
};

struct InboxInfo {
  std::string id;             ///< [a-z0-9]{1,32}, stable for the inbox's life, never reused
  std::string address;        ///< lowercased
  bool auto_created = false;  ///< made by the first delivery to the address (catch-all)
  bool has_password = false;
  Clock::time_point created;
  std::optional<Clock::time_point> expires;
  std::size_t max_messages = 0;  ///< 0 = no cap; beyond it the oldest message is dropped
  std::size_t messages = 0;
  std::size_t unread = 0;
  std::uint64_t bytes = 0;  ///< sum of the messages' sizes
};

struct MessageInfo {
  std::string id;  ///< [A-Za-z0-9._-]{1,70}, unique in the inbox; also its POP3 UIDL
  std::string inbox_id;
  std::uint64_t seq = 0;  ///< arrival order across the whole sandbox, from 1
  Clock::time_point received;
  std::uint64_t size = 0;                ///< octets of raw()
  bool read = false;                     ///< marked through the API, or retrieved over POP3
  std::string envelope_from;             ///< MAIL FROM, "" for <>
  std::vector<std::string> envelope_to;  ///< the RCPT TO addresses of this inbox
};

/// Sandbox-wide limits (all visible in the API).
struct Limits {
  std::size_t max_messages = 0;       ///< per inbox default; 0 = none
  std::uint64_t max_total_bytes = 0;  ///< all inboxes together; 0 = none; oldest dropped first
  std::uint64_t max_message_size = 0;
};

/// A change, as SSE, webhooks and waiters see it.
struct Event {
  enum class Kind {
    message_received,
    message_deleted,  ///< by the API, POP3 DELE+QUIT, or retention
    message_read,
    inbox_created,
    inbox_deleted,  ///< by the API or at expiry
    inbox_cleared,
  };
  Kind kind = Kind::message_received;
  std::string inbox_id;
  std::string message_id;  ///< "" for inbox events
  std::uint64_t seq = 0;   ///< the message's seq, 0 for inbox events
};

/// One injected fault of an inbox (set and cleared through the API).
struct Fault {
  enum class Kind {
    pop3_login_temp,    ///< the login answers -ERR [SYS/TEMP]
    pop3_login_in_use,  ///< the login answers -ERR [IN-USE]
    pop3_delay,         ///< every POP3 reply of the session waits `delay`
    pop3_drop_retr,     ///< RETR closes the connection after `after_octets` octets
    pop3_dele_error,    ///< DELE answers -ERR
    smtp_mail,          ///< MAIL FROM answers `smtp_code` (sessions AUTHed as the inbox)
    smtp_rcpt,          ///< RCPT TO of the inbox answers `smtp_code`
    smtp_data,          ///< the reply after DATA answers `smtp_code`
    smtp_delay,         ///< SMTP replies of the transaction wait `delay`
  };
  Kind kind = Kind::pop3_login_temp;
  double probability = 1.0;  ///< 0..1, drawn per occasion
  std::chrono::milliseconds delay{0};
  std::uint64_t after_octets = 0;
  int smtp_code = 451;  ///< 4xx or 5xx
};

using SubscriptionId = std::uint64_t;

/// Errors of Hub calls: invalid_argument (bad address, ttl, fault),
/// file_exists (address taken), no_such_file_or_directory (unknown id),
/// and I/O errors of the store.
class Hub {
 public:
  virtual ~Hub() = default;

  /// Creates an inbox; answers file_exists when the address has one.
  virtual std::error_code create_inbox(const InboxSpec& spec, InboxInfo& out) = 0;
  /// Every inbox, oldest first. Answers from memory.
  virtual std::vector<InboxInfo> inboxes() const = 0;
  /// Answers from memory.
  virtual std::optional<InboxInfo> inbox(std::string_view id) const = 0;
  /// Answers from memory.
  virtual std::optional<InboxInfo> inbox_by_address(std::string_view address) const = 0;
  virtual std::error_code delete_inbox(std::string_view id) = 0;
  /// Removes every message, keeps the inbox.
  virtual std::error_code clear_inbox(std::string_view id) = 0;

  /// Messages newest first, `offset` skipped, at most `limit`; `total` gets
  /// the inbox's count. Answers from memory.
  virtual std::vector<MessageInfo> messages(std::string_view inbox_id, std::size_t offset,
                                            std::size_t limit, std::size_t& total) const = 0;
  /// Answers from memory.
  virtual std::optional<MessageInfo> message(std::string_view inbox_id,
                                             std::string_view message_id) const = 0;
  /// The exact octets the SMTP client sent after DATA, dot-unstuffed, line
  /// ends as sent: the message ends with the CRLF of its last line; only the
  /// terminating "." CRLF is not part of it (RFC 5321 section 4.1.1.4).
  virtual std::error_code raw(std::string_view inbox_id, std::string_view message_id,
                              std::string& out) const = 0;
  virtual std::error_code delete_message(std::string_view inbox_id,
                                         std::string_view message_id) = 0;
  virtual std::error_code mark_read(std::string_view inbox_id, std::string_view message_id,
                                    bool read) = 0;

  /// Calls `fn` after every change, on the thread that made it, in the
  /// order of the changes; `fn` must not block nor call back into the hub
  /// (post the work elsewhere). Never blocks.
  virtual SubscriptionId subscribe(std::function<void(const Event&)> fn) = 0;
  /// After it returns, `fn` is not running and will not be called again.
  virtual void unsubscribe(SubscriptionId id) = 0;

  /// Replaces the inbox's faults (an empty list clears them).
  virtual std::error_code set_faults(std::string_view inbox_id, std::vector<Fault> faults) = 0;
  /// Answers from memory.
  virtual std::vector<Fault> faults(std::string_view inbox_id) const = 0;

  /// Answers from memory.
  virtual Limits limits() const = 0;
};

}  // namespace popbox::sandbox
