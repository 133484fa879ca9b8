#pragma once
// The POP3 server session as a pure state machine (RFC 1939, 2449, 2595,
// 3206, 5034). It takes command lines and the results of slow work in, and
// writes reply bytes and asks for actions out. It never touches a socket, a
// file or a clock, which is what makes it testable byte by byte and fuzzable.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/scram.hpp"
#include "auth/scram_server.hpp"
#include "core/dot_codec.hpp"
#include "store/mailbox.hpp"

namespace popbox::pop3 {

/// Facts about the connection and server policy the session needs.
struct SessionOptions {
  std::string hostname = "localhost";
  bool apop_enabled = false;
  std::string apop_timestamp;      ///< "<unique@host>", sent in the greeting when APOP is on
  bool stls_available = false;     ///< TLS is configured and the link is not yet TLS
  bool secure = false;             ///< the link is TLS
  bool plaintext_allowed = true;   ///< USER/PASS, PLAIN, LOGIN may be used now
  std::optional<int> expire_days;  ///< EXPIRE capability; -1 means NEVER
  std::optional<int> login_delay_seconds;  ///< LOGIN-DELAY capability
  auth::ChannelBinding channel_binding;    ///< of the TLS link; SCRAM-SHA-256-PLUS needs it
  bool oauth_enabled = false;              ///< offer OAUTHBEARER and XOAUTH2 ([auth.oauth])
  std::string oauth_scope;                 ///< "scope" of the RFC 7628 error challenge
};

/// The credentials a client offered; checked off the event thread.
struct Credentials {
  enum class Kind { password, apop, scram, oauth } kind = Kind::password;
  std::string user;
  std::string secret;  ///< the password, the APOP digest, or the bearer token
  /// scram: the session has checked the proof, and it was right.
  bool verified = false;
  /// scram: the client acknowledged the server-final message; the driver
  /// already ran the login gates on the proof and only opens the maildrop.
  bool acknowledged = false;
};

/// The outcome of checking credentials and opening the maildrop.
enum class LoginOutcome {
  ok,
  bad_credentials,
  in_use,
  login_delay,
  temp_failure,  ///< [SYS/TEMP]: retrying later may work
  perm_failure,  ///< [SYS/PERM]: the maildrop is unusable until an operator acts
};

/// What the driver must do after feeding the session.
struct Step {
  enum class Action {
    none,       ///< write the output, read the next line
    close,      ///< write the output, then close the connection
    start_tls,  ///< write the output, drop buffered input, handshake, call tls_started()
    login,      ///< check `credentials`, open the maildrop, call login_done();
                ///< scram (not yet acknowledged): call scram_verified() instead
                ///< of opening the maildrop when the checks pass
    stream,     ///< open message `message`, then stream_opened() or stream_failed();
                ///< then call stream_next() and do what its StreamStep says
    commit,     ///< apply deletions (commit_deleted()), call commit_done()
    more,       ///< write the output (flush first if it is large), then call more()
                ///< for the next piece of the same reply; feed no line before
                ///< more() returns another action
    scram,      ///< look up `credentials.user`'s SCRAM secret, call scram_lookup_done()
  };
  Step() = default;
  Step(Action a) : action(a) {}  // NOLINT: implicit, so `return {Action::close};` reads well

  Action action = Action::none;
  Credentials credentials;
  std::size_t message = 0;
  std::optional<std::uint64_t> top_lines;
};

/// What the driver does next for the reply of Action::stream.
enum class StreamStep {
  need_block,  ///< read the next block of the message and pass it to stream_feed()
  write,       ///< write the output (it is near its bound), then call stream_next()
  done,        ///< the reply is complete, terminator included; stop reading
};

/// Why the session ended the connection, for the log's result= field.
enum class CloseReason {
  none,             ///< the session has not closed (the client went away, or a timeout)
  quit,             ///< QUIT
  too_many_errors,  ///< limits::max_bad_commands bad commands
  line_too_long,    ///< a line over limits::max_line
  auth_failures,    ///< limits::max_auth_failures failed logins
};

/// The log spelling of `reason`: "quit", "too_many_errors", ... ("none").
std::string_view close_reason_name(CloseReason reason) noexcept;

/// The mechanism of a login attempt (USER/PASS is "USER").
enum class Mechanism {
  user,
  apop,
  plain,
  login,
  scram_sha_256,
  scram_sha_256_plus,
  oauthbearer,
  xoauth2,
};
inline constexpr std::size_t mechanism_count = 8;

/// The SASL spelling of `m` ("PLAIN", "SCRAM-SHA-256", ...; "USER", "APOP").
std::string_view mechanism_name(Mechanism m) noexcept;

/// Counters for the session's log line.
struct SessionStats {
  std::uint64_t commands = 0, bad_commands = 0, retrieved = 0, retrieved_bytes = 0, top = 0,
                deleted = 0, auth_failures = 0;
};

class Session {
 public:
  enum class State { authorization, transaction, update, closed };

  explicit Session(SessionOptions options);

  /// The greeting line (with the APOP timestamp when APOP is on).
  void greeting(std::string& out) const;
  /// Handles one line from the client (CRLF removed).
  Step on_line(std::string_view line, std::string& out);
  /// Answers a line that was too long; the connection should close.
  Step on_line_too_long(std::string& out);
  /// Writes the next piece of a reply that came with Action::more (a LIST
  /// or UIDL listing), at most limits::listing_piece bytes; returns
  /// Action::more while pieces remain. The pieces concatenated are exactly
  /// the reply written at once. Without a pending reply: writes nothing.
  Step more(std::string& out);
  /// Reports the login started by Action::login. On success `messages` is
  /// the maildrop snapshot; it must outlive the session.
  Step login_done(LoginOutcome outcome, const std::vector<store::MessageInfo>* messages,
                  std::string& out);
  /// Writes the +OK line of Action::stream once the message is open; the
  /// driver then calls stream_next() until it says StreamStep::done.
  void stream_opened(std::string& out);
  /// Gives the reply of Action::stream the next block of the stored message,
  /// cut anywhere; an empty block is the end of the message. The bytes must
  /// stay valid until stream_next() asks for the next block (or is done).
  void stream_feed(std::string_view block);
  /// Appends the next part of the reply of Action::stream (CRLF line ends,
  /// dot-stuffed; TOP: the header and the asked body lines; then the
  /// terminator) while `out` stays within limits::max_pending_output, and
  /// says what the driver must do before calling again. The parts
  /// concatenated are the same bytes however the message was cut.
  StreamStep stream_next(std::string& out);
  /// Writes the -ERR line when the message of Action::stream cannot be read.
  void stream_failed(std::string& out);
  /// Called after a TLS handshake succeeded (STLS, or POP3S before the
  /// first line); `binding` is the link's channel binding for -PLUS.
  void tls_started(bool plaintext_allowed, auth::ChannelBinding binding = {});
  /// Reports Action::scram: the user's secret (nullopt: the user
  /// database failed) and the server's random nonce part (printable, no ',').
  Step scram_lookup_done(std::optional<auth::ScramSecret> secret, std::string_view server_nonce,
                         std::string& out);
  /// Reports that the driver accepted the SCRAM proof of Action::login
  /// (gates and penalty wait done): writes the server-final message; the
  /// client's empty answer then asks for the acknowledged login.
  void scram_verified(std::string& out);
  /// The messages Action::commit must delete (message indexes, 0-based).
  std::vector<std::size_t> commit_deleted() const;
  /// The messages that were retrieved (marked seen at commit).
  std::vector<std::size_t> commit_retrieved() const;
  /// Reports the result of Action::commit; the connection then closes.
  Step commit_done(bool ok, std::string& out);

  State state() const noexcept { return state_; }
  const std::string& user() const noexcept { return user_; }
  const SessionStats& stats() const noexcept { return stats_; }
  /// The mechanism of the login under way, or of the last one tried.
  Mechanism mechanism() const noexcept { return mechanism_; }
  /// Why the session closed; CloseReason::none while it has not.
  CloseReason close_reason() const noexcept { return close_reason_; }

 private:
  enum class Sasl {
    none,
    plain,
    login_user,
    login_password,
    scram_first,
    scram_final,
    scram_ack,
    oauthbearer,
    xoauth2,
    oauth_error
  };
  struct Args;
  using Handler = Step (Session::*)(const Args&, std::string&);
  struct CommandSpec;
  static const CommandSpec* find_command(std::string_view keyword);

  Step dispatch(std::string_view line, std::string& out);
  Step on_sasl_line(std::string_view line, std::string& out);
  /// The SASL mechanisms usable on this link, space separated.
  std::string sasl_mechanisms() const;
  void start_scram(bool plus);
  Step on_scram(Sasl stage, std::string_view msg, std::string& out);
  /// Enters State::closed for `why`; the driver closes after the output.
  Step close(CloseReason why);
  Step bad_command(std::string_view reply, std::string& out);
  /// Counts a failed login and closes after limits::max_auth_failures.
  Step auth_failed(std::string_view reply, std::string& out);
  Step start_login(Credentials creds, std::string& out);
  bool check_plaintext(std::string& out);
  // OAUTHBEARER / XOAUTH2 (session_oauth.cpp)
  Step start_oauth(std::string_view mech, const Args& args, std::string& out);
  Step on_oauth_response(Sasl stage, std::string& msg, std::string& out);
  Step oauth_failed(std::string& out);
  /// Resolves a message number argument; writes -ERR and returns nullopt if bad.
  std::optional<std::size_t> message_arg(std::string_view arg, std::string& out);
  /// Appends listing lines from listing_.next on, until the bytes written
  /// since `start` would pass limits::listing_piece.
  Step listing_piece(std::size_t start, std::string& out);

  // AUTHORIZATION
  Step cmd_user(const Args&, std::string&);
  Step cmd_pass(const Args&, std::string&);
  Step cmd_apop(const Args&, std::string&);
  Step cmd_auth(const Args&, std::string&);
  Step cmd_stls(const Args&, std::string&);
  // both states
  Step cmd_capa(const Args&, std::string&);
  Step cmd_quit(const Args&, std::string&);
  // TRANSACTION
  Step cmd_stat(const Args&, std::string&);
  Step cmd_list(const Args&, std::string&);
  Step cmd_uidl(const Args&, std::string&);
  Step cmd_retr(const Args&, std::string&);
  Step cmd_top(const Args&, std::string&);
  Step cmd_dele(const Args&, std::string&);
  Step cmd_noop(const Args&, std::string&);
  Step cmd_rset(const Args&, std::string&);

  SessionOptions options_;
  State state_ = State::authorization;
  Sasl sasl_ = Sasl::none;
  std::string user_;       // from USER, or the user logged in
  std::string sasl_user_;  // LOGIN mechanism: the user name given first
  Mechanism mechanism_ = Mechanism::user;
  bool oauth_login_ = false;  // the login under way came from OAUTHBEARER/XOAUTH2
  bool scram_proof_ = false;  // the login under way checks a SCRAM proof (right or wrong)
  auth::ScramServer scram_;
  const std::vector<store::MessageInfo>* messages_ = nullptr;
  std::vector<bool> deleted_;
  std::vector<bool> retrieved_;
  struct Pending {
    std::size_t index = 0;
    bool top = false;
    std::uint64_t top_lines = 0;
  } pending_;                 // the RETR or TOP whose Action::stream is under way
  core::DotEncoder encoder_;  // frames the message of pending_ (the one codec)
  std::string_view block_;    // the part of the driver's block not yet encoded
  bool block_end_ = false;    // the driver fed the empty block: the message ended
  struct Listing {
    enum class Kind { none, list, uidl } kind = Kind::none;
    std::size_t next = 0;  // the message whose line comes next
  } listing_;              // the LIST or UIDL whose Action::more is under way
  SessionStats stats_;
  CloseReason close_reason_ = CloseReason::none;
};

}  // namespace popbox::pop3
