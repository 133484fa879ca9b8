#include "lmtp/session.hpp"

#include <fmt/format.h>

#include <cctype>
#include <charconv>

#include "core/limits.hpp"

namespace popbox::lmtp {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && upper(s.substr(0, prefix.size())) == prefix;
}

// Splits "<path> PARAM=V ..." into the path and its parameters; false when
// the path is not in angle brackets.
bool split_path(std::string_view args, std::string_view& path, std::string_view& params) {
  while (!args.empty() && args.front() == ' ') args.remove_prefix(1);
  if (args.empty() || args.front() != '<') return false;
  std::size_t close = args.find('>');
  if (close == std::string_view::npos) return false;
  path = args.substr(1, close - 1);
  params = args.substr(close + 1);
  // No spaces, controls or DEL: the path is echoed in replies and headers.
  for (unsigned char c : path) {
    if (c < 0x21 || c == 0x7f || c == '<') return false;
  }
  return true;
}

}  // namespace

Session::Session(SessionOptions options) : options_(std::move(options)) {}

void Session::greeting(std::string& out) const {
  out += fmt::format("220 {} LMTP popbox ready\r\n", options_.hostname);
}

Step Session::error(std::string_view reply, std::string& out) {
  out.append(reply);
  out.append("\r\n");
  if (++errors_ >= limits::lmtp_max_errors) {
    out.append("421 4.7.0 Too many errors, closing connection\r\n");
    return {Step::Action::close};
  }
  return {};
}

void Session::reset_transaction() {
  in_transaction_ = false;
  sender_.clear();
  size_hint_ = 0;
  recipients_.clear();
}

Step Session::on_line_too_long(std::string& out) {
  out.append("500 5.5.2 Line too long\r\n");
  return {Step::Action::close};
}

Step Session::on_line(std::string_view line, std::string& out) {
  std::size_t sp = line.find(' ');
  std::string verb = upper(line.substr(0, sp));
  std::string_view args = sp == std::string_view::npos ? "" : line.substr(sp + 1);
  if (verb == "LHLO") return cmd_lhlo(args, out);
  if (verb == "MAIL") return cmd_mail(args, out);
  if (verb == "RCPT") return cmd_rcpt(args, out);
  if (verb == "DATA") return cmd_data(args, out);
  if (verb == "RSET") {
    reset_transaction();
    out.append("250 2.0.0 Ok\r\n");
    return {};
  }
  if (verb == "NOOP") {
    out.append("250 2.0.0 Ok\r\n");
    return {};
  }
  if (verb == "QUIT") {
    out += fmt::format("221 2.0.0 {} closing connection\r\n", options_.hostname);
    return {Step::Action::close};
  }
  if (verb == "VRFY") {
    out.append("252 2.5.2 Cannot VRFY, send some mail\r\n");
    return {};
  }
  if (verb == "HELO" || verb == "EHLO") return error("500 5.5.1 This is LMTP: use LHLO", out);
  if (verb == "BDAT") return error("502 5.5.1 BDAT is not supported", out);
  return error("500 5.5.2 Unknown command", out);
}

Step Session::cmd_lhlo(std::string_view args, std::string& out) {
  if (args.empty()) return error("501 5.5.4 LHLO needs a host name", out);
  greeted_ = true;
  reset_transaction();
  out += fmt::format(
      "250-{}\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SIZE {}\r\n",
      options_.hostname, options_.max_message_size);
  return {};
}

Step Session::cmd_mail(std::string_view args, std::string& out) {
  if (!greeted_) return error("503 5.5.1 Send LHLO first", out);
  if (in_transaction_) return error("503 5.5.1 Nested MAIL command", out);
  if (!iequals_prefix(args, "FROM:")) return error("501 5.5.4 Syntax: MAIL FROM:<address>", out);
  std::string_view path, params;
  if (!split_path(args.substr(5), path, params)) {
    return error("501 5.1.7 Bad sender address syntax", out);
  }
  std::uint64_t size = 0;
  while (!params.empty()) {
    std::size_t start = params.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    params.remove_prefix(start);
    std::string_view param = params.substr(0, params.find(' '));
    params.remove_prefix(param.size());
    std::string name = upper(param.substr(0, param.find('=')));
    std::string_view value =
        param.find('=') == std::string_view::npos ? "" : param.substr(param.find('=') + 1);
    if (name == "SIZE") {
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), size);
      if (ec != std::errc() || p != value.data() + value.size()) {
        return error("501 5.5.4 Bad SIZE parameter", out);
      }
      if (size > options_.max_message_size) {
        return error("552 5.3.4 Message size exceeds fixed maximum message size", out);
      }
    } else if (name == "BODY") {
      std::string body = upper(value);
      if (body != "7BIT" && body != "8BITMIME") return error("501 5.5.4 Bad BODY parameter", out);
    } else {
      return error("555 5.5.4 Unsupported MAIL parameter", out);
    }
  }
  in_transaction_ = true;
  sender_ = std::string(path);
  size_hint_ = size;
  out.append("250 2.1.0 Ok\r\n");
  return {};
}

Step Session::cmd_rcpt(std::string_view args, std::string& out) {
  if (!in_transaction_) return error("503 5.5.1 MAIL first", out);
  if (!iequals_prefix(args, "TO:")) return error("501 5.5.4 Syntax: RCPT TO:<address>", out);
  std::string_view path, params;
  if (!split_path(args.substr(3), path, params) || path.empty()) {
    return error("501 5.1.3 Bad recipient address syntax", out);
  }
  if (params.find_first_not_of(' ') != std::string_view::npos) {
    return error("555 5.5.4 Unsupported RCPT parameter", out);
  }
  if (recipients_.size() >= limits::lmtp_max_recipients) {
    out.append("452 4.5.3 Too many recipients\r\n");
    return {};
  }
  pending_rcpt_ = std::string(path);
  Step step{Step::Action::check_recipient};
  step.address = pending_rcpt_;
  step.size_hint = size_hint_;
  return step;
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
  if (status == RcptStatus::ok) recipients_.push_back(pending_rcpt_);
  status_reply(status, pending_rcpt_, true, out);
}

Step Session::cmd_data(std::string_view args, std::string& out) {
  if (!args.empty()) return error("501 5.5.4 DATA takes no arguments", out);
  if (!in_transaction_) return error("503 5.5.1 MAIL first", out);
  if (recipients_.empty()) return error("503 5.5.1 No valid recipients", out);
  out.append("354 End data with <CR><LF>.<CR><LF>\r\n");
  return {Step::Action::receive_data};
}

Step Session::data_received(bool too_big, std::string& out) {
  if (!too_big) return {Step::Action::deliver};
  for (std::size_t i = 0; i < recipients_.size(); ++i) {
    out.append("552 5.3.4 Message size exceeds fixed maximum message size\r\n");
  }
  reset_transaction();
  return {};
}

void Session::delivered(const std::vector<RcptStatus>& results, std::string& out) {
  for (std::size_t i = 0; i < recipients_.size(); ++i) {
    status_reply(i < results.size() ? results[i] : RcptStatus::temp_failure, recipients_[i], false,
                 out);
  }
  ++messages_;
  reset_transaction();
}

}  // namespace popbox::lmtp
