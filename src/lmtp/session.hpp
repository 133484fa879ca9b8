#pragma once
// The LMTP server session (RFC 2033 with RFC 2920 PIPELINING, RFC 2034
// ENHANCEDSTATUSCODES, RFC 1870 SIZE, RFC 6152 8BITMIME) as a pure state
// machine: command lines in, replies and actions out. Recipient lookups,
// the message body and the delivery are the driver's work.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lmtp/local_delivery.hpp"
#include "smtp/receiver.hpp"

namespace popbox::lmtp {

struct SessionOptions {
  std::string hostname = "localhost";
  std::uint64_t max_message_size = 50ull << 20;
  bool quota_temporary = false;  ///< over quota answers 452 4.2.2 instead of 552 5.2.2
};

/// What the driver does next (Step::Action).
enum class StepAction {
  none,             ///< write the output, read the next line
  close,            ///< write the output, close
  check_recipient,  ///< resolve `address` (blocking), then recipient_checked()
  receive_data,     ///< write the output (354), read the dot-stuffed body, then data_received()
  deliver,          ///< deliver the body to every accepted recipient, then delivered()
};
using Step = smtp::ReceiverStep<StepAction>;

/// The replies it shares with the ESMTP session come from smtp::Receiver.
class Session : public smtp::Receiver<Step> {
 public:
  explicit Session(SessionOptions options);

  /// The 220 greeting.
  void greeting(std::string& out) const;
  /// Handles one command line (CRLF removed).
  Step on_line(std::string_view line, std::string& out);
  /// Reports the lookup of Action::check_recipient.
  void recipient_checked(RcptStatus status, std::string& out);
  /// Reports that the body of Action::receive_data has been read;
  /// `too_big` when it passed max_message_size (it was discarded).
  Step data_received(bool too_big, std::string& out);
  /// Reports the per-recipient results of Action::deliver, in recipient
  /// order: one reply each (RFC 2033 section 4.2).
  void delivered(const std::vector<RcptStatus>& results, std::string& out);

 private:
  Step cmd_lhlo(std::string_view args, std::string& out);
  Step cmd_mail(std::string_view args, std::string& out);
  void status_reply(RcptStatus status, std::string_view address, bool at_rcpt, std::string& out);

  SessionOptions options_;
  bool greeted_ = false;
};

}  // namespace popbox::lmtp
