#pragma once
// What the LMTP (lmtp/session.hpp) and ESMTP (smtp/session.hpp) sessions
// share beyond the transaction core: the mail transaction and bad-command
// count they hold, and the replies that are the same in both (a line too
// long, an error that may end the session, RCPT up to the syntax and count
// checks, DATA's preconditions, the verbs neither offers). Templated on the
// session's Step, so each session keeps its own actions. Pure: no I/O.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/transaction.hpp"

namespace popbox::smtp {

/// What a receiver session's step always holds: the action, and the
/// address and size of the check it asks for.
template <class ActionT>
struct ReceiverStep {
  using Action = ActionT;
  ReceiverStep() = default;
  ReceiverStep(Action a)
      : action(a) {}  // NOLINT: implicit, so `return {Action::close};` reads well
  Action action = Action::none;
  std::string address;
  std::uint64_t size_hint = 0;
};

/// `Step` needs Action::{close, check_recipient, receive_data}, `address`
/// and `size_hint`, and a default that means "write the output, read on".
template <class Step>
class Receiver {
 public:
  /// Answers a line that was too long; the connection should close.
  Step on_line_too_long(std::string& out) {
    out.append("500 5.5.2 Line too long\r\n");
    return {Step::Action::close};
  }

  const std::string& sender() const noexcept { return tx_.sender; }
  /// Accepted recipients of the current transaction, in order.
  const std::vector<std::string>& recipients() const noexcept { return tx_.recipients; }
  std::uint64_t messages() const noexcept { return messages_; }

 protected:
  Receiver(int max_errors, std::size_t max_recipients)
      : errors_(max_errors), max_recipients_(max_recipients) {}

  /// Writes the error reply; the step closes when it was one too many.
  Step error(std::string_view reply, std::string& out) {
    if (errors_.add(reply, out)) return {Step::Action::close};
    return {};
  }

  /// A verb the session has no handler of its own for: RSET, NOOP, QUIT
  /// and VRFY as answer_common() answers them, BDAT and the rest refused.
  Step other_verb(std::string_view verb, std::string_view hostname, std::string& out) {
    if (auto close = answer_common(verb, hostname, tx_, out)) {
      return *close ? Step{Step::Action::close} : Step{};
    }
    if (verb == "BDAT") return error("502 5.5.1 BDAT is not supported", out);
    return error("500 5.5.2 Unknown command", out);
  }

  /// RCPT: after the syntax and the recipient count, the lookup of the
  /// recipient (kept in tx_.pending_rcpt) is the driver's.
  Step rcpt(std::string_view args, std::string& out) {
    if (!tx_.active) return error("503 5.5.1 MAIL first", out);
    std::string rcpt;
    std::string_view err = parse_rcpt(args, rcpt);
    if (!err.empty()) return error(err, out);
    if (tx_.recipients.size() >= max_recipients_) {
      out.append("452 4.5.3 Too many recipients\r\n");
      return {};
    }
    tx_.pending_rcpt = std::move(rcpt);
    Step step{Step::Action::check_recipient};
    step.address = tx_.pending_rcpt;
    step.size_hint = tx_.params.size;
    return step;
  }

  /// DATA: refused without a transaction or recipients (`no_recipients`
  /// is the reply then: the codes of LMTP and SMTP differ), else 354.
  Step data(std::string_view args, std::string_view no_recipients, std::string& out) {
    if (!args.empty()) return error("501 5.5.4 DATA takes no arguments", out);
    if (!tx_.active) return error("503 5.5.1 MAIL first", out);
    if (tx_.recipients.empty()) return error(no_recipients, out);
    out.append("354 End data with <CR><LF>.<CR><LF>\r\n");
    return {Step::Action::receive_data};
  }

  Transaction tx_;
  ErrorCount errors_;
  std::uint64_t messages_ = 0;

 private:
  std::size_t max_recipients_;
};

}  // namespace popbox::smtp
