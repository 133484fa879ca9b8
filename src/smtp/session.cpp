#include "smtp/session.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>

#include "core/base64.hpp"
#include "core/limits.hpp"

namespace popbox::smtp {
namespace {

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

}  // namespace

Session::Session(SessionOptions options)
    : Receiver(limits::smtp_max_errors, limits::smtp_max_recipients),
      options_(std::move(options)) {}

void Session::greeting(std::string& out) const {
  out += fmt::format("220 {} ESMTP popbox sandbox ready\r\n", options_.hostname);
}

Step Session::on_line(std::string_view line, std::string& out) {
  if (auth_wait_ != AuthWait::none) return auth_response(line, out);
  auto [verb, args] = split_command(line);
  if (verb == "EHLO") return cmd_ehlo(args, true, out);
  if (verb == "HELO") return cmd_ehlo(args, false, out);
  if (verb == "MAIL") return cmd_mail(args, out);
  if (verb == "RCPT") return cmd_rcpt(args, out);
  if (verb == "DATA") return data(args, "554 5.5.1 No valid recipients", out);
  if (verb == "AUTH") return cmd_auth(args, out);
  if (verb == "STARTTLS") return cmd_starttls(args, out);
  if (verb == "LHLO") return error("500 5.5.1 This is SMTP: use EHLO", out);
  return other_verb(verb, options_.hostname, out);
}

Step Session::cmd_ehlo(std::string_view args, bool extended, std::string& out) {
  if (args.empty()) return error("501 5.5.4 EHLO needs a host name", out);
  greeted_ = true;
  extended_ = extended;
  tx_.reset();
  if (!extended) {
    out += fmt::format("250 {}\r\n", options_.hostname);
    return {};
  }
  out += fmt::format(
      "250-{}\r\n250-PIPELINING\r\n250-SIZE {}\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
      "250-ENHANCEDSTATUSCODES\r\n",
      options_.hostname, options_.max_message_size);
  if (options_.starttls_available && !tls_active_) out.append("250-STARTTLS\r\n");
  out.append("250 AUTH PLAIN LOGIN\r\n");
  return {};
}

Step Session::cmd_starttls(std::string_view args, std::string& out) {
  if (!args.empty()) return error("501 5.5.4 STARTTLS takes no arguments", out);
  if (tls_active_) return error("503 5.5.1 TLS is already active", out);
  if (!options_.starttls_available) return error("454 4.7.0 TLS not available", out);
  out.append("220 2.0.0 Ready to start TLS\r\n");
  return {Step::Action::start_tls};
}

void Session::tls_started() {
  tls_active_ = true;
  greeted_ = false;
  extended_ = false;
  auth_wait_ = AuthWait::none;
  wipe(login_user_);
  auth_user_.clear();
  tx_.reset();
}

Step Session::cmd_auth(std::string_view args, std::string& out) {
  if (!extended_) return error("503 5.5.1 Send EHLO first", out);
  if (!auth_user_.empty()) return error("503 5.5.1 Already authenticated", out);
  if (tx_.active) return error("503 5.5.1 AUTH is not allowed in a mail transaction", out);
  auto [mechanism, initial] = split_command(args);
  if (mechanism == "PLAIN") {
    if (initial.empty()) {
      auth_wait_ = AuthWait::plain;
      out.append("334 \r\n");
      return {};
    }
    auth_wait_ = AuthWait::plain;
    return auth_response(initial, out);
  }
  if (mechanism == "LOGIN") {
    if (initial.empty()) {
      auth_wait_ = AuthWait::login_user;
      out.append("334 VXNlcm5hbWU6\r\n");  // "Username:"
      return {};
    }
    auth_wait_ = AuthWait::login_user;
    return auth_response(initial, out);
  }
  return error("504 5.5.4 Unrecognized authentication type", out);
}

Step Session::auth_response(std::string_view line, std::string& out) {
  const AuthWait wait = auth_wait_;
  auth_wait_ = AuthWait::none;
  if (line == "*") {
    wipe(login_user_);
    return error("501 5.0.0 Authentication cancelled", out);
  }
  // "=" is the empty response of RFC 4954 section 4.
  std::optional<std::string> decoded =
      line == "=" ? std::optional<std::string>("") : core::base64_decode(line);
  if (!decoded) {
    wipe(login_user_);
    return error("501 5.5.2 Cannot decode the response", out);
  }
  switch (wait) {
    case AuthWait::plain: {
      Step s = plain_credentials(*decoded, out);
      wipe(*decoded);
      return s;
    }
    case AuthWait::login_user:
      login_user_ = std::move(*decoded);
      auth_wait_ = AuthWait::login_password;
      out.append("334 UGFzc3dvcmQ6\r\n");  // "Password:"
      return {};
    case AuthWait::login_password: {
      std::string user = std::move(login_user_);
      login_user_.clear();
      return credentials(std::move(user), std::move(*decoded), out);
    }
    case AuthWait::none:
      break;
  }
  return error("503 5.5.1 No authentication in progress", out);
}

// RFC 4616: [authzid] NUL authcid NUL passwd.
Step Session::plain_credentials(std::string_view decoded, std::string& out) {
  const std::size_t first = decoded.find('\0');
  const std::size_t second =
      first == std::string_view::npos ? first : decoded.find('\0', first + 1);
  if (second == std::string_view::npos ||
      decoded.find('\0', second + 1) != std::string_view::npos) {
    return auth_failed("501 5.5.2 Bad PLAIN response", out);
  }
  std::string_view authzid = decoded.substr(0, first);
  std::string user(decoded.substr(first + 1, second - first - 1));
  if (!authzid.empty() && authzid != user) {
    return auth_failed("535 5.7.8 Authentication credentials invalid", out);
  }
  return credentials(std::move(user), std::string(decoded.substr(second + 1)), out);
}

Step Session::credentials(std::string user, std::string password, std::string& out) {
  if (user.empty() || user.size() > limits::max_user_name ||
      user.find_first_of(std::string_view("\0\r\n", 3)) != std::string::npos) {
    wipe(password);
    return auth_failed("535 5.7.8 Authentication credentials invalid", out);
  }
  if (!options_.strict_auth) {
    wipe(password);
    auth_user_ = std::move(user);
    out.append("235 2.7.0 Authentication successful\r\n");
    return {};
  }
  Step step{Step::Action::check_auth};
  checking_user_ = user;
  step.user = std::move(user);
  step.password = std::move(password);
  return step;
}

Step Session::auth_checked(bool ok, std::string& out) {
  std::string user = std::move(checking_user_);
  checking_user_.clear();
  if (!ok) return auth_failed("535 5.7.8 Authentication credentials invalid", out);
  auth_user_ = std::move(user);
  out.append("235 2.7.0 Authentication successful\r\n");
  return {};
}

Step Session::auth_failed(std::string_view reply, std::string& out) {
  if (++auth_failures_ >= limits::smtp_max_auth_failures) {
    out.append(reply);
    out.append("\r\n421 4.7.0 Too many failed logins, closing connection\r\n");
    return {Step::Action::close};
  }
  return error(reply, out);
}

Step Session::cmd_mail(std::string_view args, std::string& out) {
  if (!greeted_) return error("503 5.5.1 Send EHLO first", out);
  if (tx_.active) return error("503 5.5.1 Nested MAIL command", out);
  ParamRules rules;
  rules.max_message_size = options_.max_message_size;
  rules.smtputf8 = extended_;
  rules.auth_param = extended_;
  std::string sender;
  MailParams params;
  std::string_view err = parse_mail(args, rules, sender, params);
  if (!err.empty()) return error(err, out);
  if (!extended_ && (params.size != 0 || params.eight_bit)) {
    return error("555 5.5.4 MAIL parameters need EHLO", out);
  }
  tx_.sender = std::move(sender);
  tx_.params = params;
  Step step{Step::Action::check_sender};
  step.address = tx_.sender;
  step.user = auth_user_;
  step.size_hint = params.size;
  return step;
}

void Session::sender_checked(std::string_view refusal, std::string& out) {
  if (!refusal.empty()) {
    tx_.reset();
    out.append(refusal);
    out.append("\r\n");
    return;
  }
  tx_.active = true;
  out.append("250 2.1.0 Ok\r\n");
}

Step Session::cmd_rcpt(std::string_view args, std::string& out) {
  Step step = rcpt(args, out);
  if (step.action == Step::Action::check_recipient) step.user = auth_user_;
  return step;
}

void Session::recipient_checked(std::string_view refusal, std::string& out) {
  if (!refusal.empty()) {
    out.append(refusal);
    out.append("\r\n");
    return;
  }
  tx_.recipients.push_back(tx_.pending_rcpt);
  out.append("250 2.1.5 Ok\r\n");
}

Step Session::data_received(bool too_big, std::string& out) {
  if (!too_big) {
    Step step{Step::Action::deliver};
    step.user = auth_user_;
    return step;
  }
  out.append("552 5.3.4 Message size exceeds fixed maximum message size\r\n");
  tx_.reset();
  return {};
}

void Session::delivered(std::string_view refusal, std::string_view queue_id, std::string& out) {
  if (refusal.empty()) {
    out += fmt::format("250 2.0.0 Ok: queued as {}\r\n", queue_id);
    ++messages_;
  } else {
    out.append(refusal);
    out.append("\r\n");
  }
  tx_.reset();
}

}  // namespace popbox::smtp
