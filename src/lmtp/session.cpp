#include "lmtp/session.hpp"

#include <fmt/format.h>

#include "core/limits.hpp"

namespace popbox::lmtp {

Session::Session(SessionOptions options)
    : Receiver(limits::lmtp_max_errors, limits::lmtp_max_recipients),
      options_(std::move(options)) {}

void Session::greeting(std::string& out) const {
  out += fmt::format("220 {} LMTP popbox ready\r\n", options_.hostname);
}

Step Session::on_line(std::string_view line, std::string& out) {
  auto [verb, args] = smtp::split_command(line);
  if (verb == "LHLO") return cmd_lhlo(args, out);
  if (verb == "MAIL") return cmd_mail(args, out);
  if (verb == "RCPT") return rcpt(args, out);
  if (verb == "DATA") return data(args, "503 5.5.1 No valid recipients", out);
  if (verb == "HELO" || verb == "EHLO") return error("500 5.5.1 This is LMTP: use LHLO", out);
  return other_verb(verb, options_.hostname, out);
}

Step Session::cmd_lhlo(std::string_view args, std::string& out) {
  if (args.empty()) return error("501 5.5.4 LHLO needs a host name", out);
  greeted_ = true;
  tx_.reset();
  out += fmt::format(
      "250-{}\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SIZE {}\r\n",
      options_.hostname, options_.max_message_size);
  return {};
}

Step Session::cmd_mail(std::string_view args, std::string& out) {
  if (!greeted_) return error("503 5.5.1 Send LHLO first", out);
  if (tx_.active) return error("503 5.5.1 Nested MAIL command", out);
  smtp::ParamRules rules;
  rules.max_message_size = options_.max_message_size;
  std::string sender;
  smtp::MailParams params;
  std::string_view err = smtp::parse_mail(args, rules, sender, params);
  if (!err.empty()) return error(err, out);
  tx_.active = true;
  tx_.sender = std::move(sender);
  tx_.params = params;
  out.append("250 2.1.0 Ok\r\n");
  return {};
}

void Session::status_reply(RcptStatus status, std::string_view address, bool at_rcpt,
                           std::string& out) {
  switch (status) {
    case RcptStatus::ok:
      out += at_rcpt ? std::string("250 2.1.5 Ok\r\n")
                     : fmt::format("250 2.0.0 <{}> Saved\r\n", address);
      return;
    case RcptStatus::no_such_user:
      out += fmt::format("550 5.1.1 <{}> User unknown\r\n", address);
      return;
    case RcptStatus::over_quota:
      out += options_.quota_temporary
                 ? fmt::format("452 4.2.2 <{}> Mailbox full, try again later\r\n", address)
                 : fmt::format("552 5.2.2 <{}> Mailbox full\r\n", address);
      return;
    case RcptStatus::unsafe_mailbox:
      out += fmt::format("450 4.3.0 <{}> Mailbox unavailable, try again later\r\n", address);
      return;
    case RcptStatus::temp_failure:
      break;
  }
  out += fmt::format("451 4.3.0 <{}> Temporary failure, try again later\r\n", address);
}

void Session::recipient_checked(RcptStatus status, std::string& out) {
  if (status == RcptStatus::ok) tx_.recipients.push_back(tx_.pending_rcpt);
  status_reply(status, tx_.pending_rcpt, true, out);
}

Step Session::data_received(bool too_big, std::string& out) {
  if (!too_big) return {Step::Action::deliver};
  for (std::size_t i = 0; i < tx_.recipients.size(); ++i) {
    out.append("552 5.3.4 Message size exceeds fixed maximum message size\r\n");
  }
  tx_.reset();
  return {};
}

void Session::delivered(const std::vector<RcptStatus>& results, std::string& out) {
  for (std::size_t i = 0; i < tx_.recipients.size(); ++i) {
    status_reply(i < results.size() ? results[i] : RcptStatus::temp_failure, tx_.recipients[i],
                 false, out);
  }
  ++messages_;
  tx_.reset();
}

}  // namespace popbox::lmtp
