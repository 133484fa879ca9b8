#pragma once
// The POP3 client protocol as a pure state machine: server bytes in, events
// and command bytes out; no sockets, no files, no clock. The connection
// coroutine moves bytes, the engine reacts to events (STYLE rule 1).
//
//   greeting -> CAPA -> [STLS -> handshake -> CAPA] -> auth -> UIDL + LIST
//   -> listing event -> RETR/DELE (pipelined within a window) -> QUIT

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "client/auth.hpp"
#include "client/error.hpp"
#include "client/types.hpp"
#include "core/dot_codec.hpp"
#include "core/limits.hpp"
#include "core/line_reader.hpp"

namespace popbox::client {

/// One message of the server's maildrop, from UIDL and LIST.
struct ListEntry {
  std::size_t number = 0;
  std::uint64_t size = 0;
  std::string uidl;
};

struct SessionOptions {
  TlsMode tls = TlsMode::implicit;
  AuthMech auth = AuthMech::automatic;
  std::string user;
  std::string secret;  ///< password, or the OAuth access token; wiped after use
  std::string host;    ///< for OAUTHBEARER
  std::uint16_t port = 0;
  std::size_t pipeline_window = limits::pipeline_window;
  std::size_t max_listing = limits::max_listing;  ///< entries of one UIDL or LIST reply
};

class Session {
 public:
  enum class EventKind {
    none,
    start_tls,    ///< server said +OK to STLS: handshake, then tls_started()
    listing,      ///< UIDL and LIST are in: queue retrieve()/remove(), then quit()
    body_begin,   ///< RETR +OK: a message starts
    body_data,    ///< message bytes, un-stuffed, CRLF line ends
    body_end,     ///< the message is complete
    retr_failed,  ///< RETR -ERR (data: the server's text)
    deleted,      ///< DELE +OK (applied by the server after QUIT)
    dele_failed,  ///< DELE -ERR
    closed,       ///< QUIT answered; `ok` false: the server did not apply deletions
    failed,       ///< the session cannot go on; see `failure`
  };
  struct Event {
    EventKind kind = EventKind::none;
    std::size_t message = 0;  ///< message number (body_*, retr_failed, deleted, dele_failed)
    std::string_view data;    ///< body bytes or server text; valid until the next call
    bool ok = true;
    Failure failure;
  };

  /// A session about to read the server's greeting (after the TLS
  /// handshake for implicit TLS).
  explicit Session(SessionOptions options);
  ~Session();  ///< wipes the secret
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// Consumes a prefix of `in` (the server's bytes) and returns how many
  /// bytes it used; sets `ev` when something happened. Call again while
  /// input remains or the last call returned an event.
  std::size_t receive(std::string_view in, Event& ev);
  /// The peer closed the connection; returns the failure this means (none
  /// after a QUIT reply).
  Failure eof() const;
  /// Commands to write now; the queue is released within the pipelining
  /// window. Call output_done() once they are written.
  std::string_view output();
  /// The bytes returned by output() have been written.
  void output_done();
  /// The TLS handshake after STLS succeeded: capabilities are asked again.
  void tls_started();

  /// The maildrop, valid after the listing event.
  const std::vector<ListEntry>& listing() const { return listing_; }
  /// Queues RETR for message `number`.
  void retrieve(std::size_t number);
  /// Queues DELE for message `number`.
  void remove(std::size_t number);
  /// Sends QUIT once everything queued has been answered.
  void quit() { quit_requested_ = true; }

  /// True after a QUIT reply or a failure: nothing more will happen.
  bool finished() const { return phase_ == Phase::closed || phase_ == Phase::failed; }
  /// What the server announced in CAPA (after STLS: the second answer).
  const Capabilities& capabilities() const { return caps_; }
  /// The mechanism used to log in (valid once authenticated).
  AuthMech mechanism() const { return mech_; }

 private:
  enum class Phase { greeting, capa, stls, tls_wait, auth, transaction, closed, failed };
  enum class Reading { status, lines, body };
  enum class Cmd { capa, uidl, list, retr, dele, quit };
  enum class AuthStep { user, pass, apop, sasl };
  struct Pending {
    Cmd cmd;
    std::size_t message = 0;
  };

  // Framing: one status/listing line, or body bytes through the DotDecoder.
  std::size_t take_line(std::string_view in, Event& ev);
  std::size_t take_body(std::string_view in, Event& ev);
  void on_status(std::string_view line, Event& ev);
  // `crlf_around`: the line and the one before it ended in CRLF.
  void on_multiline(std::string_view line, bool crlf_around, Event& ev);
  void on_transaction_status(bool ok, std::string_view line, Event& ev);

  // The AUTHORIZATION state (session_auth.cpp).
  void on_greeting(std::string_view line, Event& ev);
  void after_capa(Event& ev);
  void on_stls(bool ok, std::string_view line, Event& ev);
  void begin_auth(Event& ev);
  void start_sasl(std::string_view name, std::vector<std::string> responses, bool oauth);
  void on_auth(std::string_view line, Event& ev);
  void authenticated();

  void send(std::string_view command);
  void fail(Event& ev, fetch_errc code, std::string message);
  void fail_reply(Event& ev, fetch_errc fallback, std::string_view what, std::string_view line);
  bool parse_listing_line(std::string_view line);
  void finish_listing(Event& ev);
  void forget_secrets() noexcept;

  SessionOptions options_;
  Phase phase_ = Phase::greeting;
  Reading reading_ = Reading::status;
  bool secure_ = false;
  Capabilities caps_;
  std::string timestamp_;  // APOP timestamp from the greeting
  AuthMech mech_ = AuthMech::automatic;
  AuthStep auth_step_ = AuthStep::user;
  std::vector<std::string> sasl_responses_;
  std::size_t sasl_next_ = 0;
  bool sasl_oauth_ = false;
  std::string oauth_error_;  // the JSON an OAuth server sent before -ERR

  core::LineReader reader_{limits::max_line};
  core::DotDecoder decoder_;
  bool line_crlf_ = true;     // the last complete line ended in CRLF
  bool last_fed_cr_ = false;  // the last byte given to reader_ was CR
  std::string body_;
  bool body_end_pending_ = false;
  std::size_t body_message_ = 0;
  std::string text_;  // server text handed out in events

  std::deque<Pending> queue_;      // commands not yet written
  std::deque<Pending> in_flight_;  // written, reply not yet read
  bool quit_requested_ = false;
  std::string out_;

  std::vector<std::pair<std::size_t, std::string>> uidls_;
  std::vector<std::pair<std::size_t, std::uint64_t>> sizes_;
  std::vector<ListEntry> listing_;
};

}  // namespace popbox::client
