#pragma once
// The ESMTP receiver session (RFC 5321) as a pure state machine: command
// lines in, replies and actions out. Extensions: PIPELINING (RFC 2920),
// SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531),
// ENHANCEDSTATUSCODES (RFC 2034), STARTTLS (RFC 3207), AUTH PLAIN and
// LOGIN (RFC 4954). The MAIL/RCPT syntax and the transaction state are the
// ones LMTP uses (smtp/transaction.hpp). Sender and recipient checks, the
// credentials check, the body and the delivery are the driver's work.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/receiver.hpp"

namespace popbox::smtp {

struct SessionOptions {
  std::string hostname = "localhost";
  std::uint64_t max_message_size = 50ull << 20;
  bool starttls_available = false;  ///< a TLS context exists and the link is plain
  /// Credentials go to the driver (Action::check_auth); otherwise any
  /// well-formed credentials are accepted at once.
  bool strict_auth = false;
};

/// What the driver does next (Step::Action).
enum class StepAction {
  none,             ///< write the output, read the next line
  close,            ///< write the output, close
  start_tls,        ///< write the output (220), drop buffered input, handshake, tls_started()
  check_auth,       ///< verify `user`/`password` (blocking), then auth_checked()
  check_sender,     ///< decide on MAIL FROM `address` for `user`, then sender_checked()
  check_recipient,  ///< decide on RCPT TO `address`, then recipient_checked()
  receive_data,     ///< write the output (354), read the dot-stuffed body, then data_received()
  deliver,          ///< deliver the body to every accepted recipient, then delivered()
};

struct Step : ReceiverStep<StepAction> {
  using ReceiverStep::ReceiverStep;
  std::string user;      ///< the AUTH identity ("" when not authenticated)
  std::string password;  ///< check_auth only; the driver wipes it after use
};

/// The replies it shares with the LMTP session come from Receiver.
class Session : public Receiver<Step> {
 public:
  explicit Session(SessionOptions options);

  /// The 220 greeting.
  void greeting(std::string& out) const;
  /// Handles one line (CRLF removed): a command, or an AUTH response.
  Step on_line(std::string_view line, std::string& out);
  /// After Action::start_tls: the handshake succeeded; the session is back
  /// to its state before EHLO (RFC 3207 section 4.2).
  void tls_started();
  /// Reports the verdict of Action::check_auth.
  Step auth_checked(bool ok, std::string& out);
  /// Reports the decision on Action::check_sender: "" accepts, else the
  /// whole reply line (without CRLF) to send instead.
  void sender_checked(std::string_view refusal, std::string& out);
  /// Reports the decision on Action::check_recipient, as sender_checked().
  void recipient_checked(std::string_view refusal, std::string& out);
  /// Reports that the body of Action::receive_data has been read;
  /// `too_big` when it passed max_message_size (it was discarded).
  Step data_received(bool too_big, std::string& out);
  /// Reports the outcome of Action::deliver: one reply for all recipients
  /// (RFC 5321 section 4.2.5); "" is success, named by `queue_id`.
  void delivered(std::string_view refusal, std::string_view queue_id, std::string& out);

  /// The authenticated identity, "" before AUTH succeeded.
  const std::string& auth_user() const noexcept { return auth_user_; }
  bool tls_active() const noexcept { return tls_active_; }

 private:
  enum class AuthWait { none, plain, login_user, login_password };

  Step cmd_ehlo(std::string_view args, bool extended, std::string& out);
  Step cmd_mail(std::string_view args, std::string& out);
  Step cmd_rcpt(std::string_view args, std::string& out);
  Step cmd_auth(std::string_view args, std::string& out);
  Step cmd_starttls(std::string_view args, std::string& out);
  Step auth_response(std::string_view line, std::string& out);
  Step plain_credentials(std::string_view decoded, std::string& out);
  Step credentials(std::string user, std::string password, std::string& out);
  Step auth_failed(std::string_view reply, std::string& out);

  SessionOptions options_;
  bool greeted_ = false;
  bool extended_ = false;  ///< EHLO (not HELO) was said
  bool tls_active_ = false;
  AuthWait auth_wait_ = AuthWait::none;
  std::string login_user_;
  std::string auth_user_;
  std::string checking_user_;  ///< the identity of a pending check_auth
  int auth_failures_ = 0;
};

}  // namespace popbox::smtp
