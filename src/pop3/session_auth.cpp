// Session: the AUTHORIZATION state (USER/PASS, APOP, SASL, STLS) and the
// hand-over to TRANSACTION once the driver has checked the credentials.
#include <fmt/format.h>

#include <cctype>
#include <utility>

#include "core/base64.hpp"
#include "core/limits.hpp"
#include "pop3/session.hpp"
#include "pop3/session_detail.hpp"

namespace popbox::pop3 {

using detail::reply;
using detail::valid_user_name;

namespace {

constexpr std::string_view plaintext_refused =
    "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.";

bool is_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string Session::sasl_mechanisms() const {
  std::string mechs;
  if (options_.plaintext_allowed) mechs += "PLAIN LOGIN ";
  // A bearer token is a password equivalent: offered where PLAIN is.
  if (options_.plaintext_allowed && options_.oauth_enabled) mechs += "OAUTHBEARER XOAUTH2 ";
  mechs += "SCRAM-SHA-256";
  if (options_.secure && options_.channel_binding.available()) mechs += " SCRAM-SHA-256-PLUS";
  return mechs;
}

bool Session::check_plaintext(std::string& out) {
  if (options_.plaintext_allowed) return true;
  reply(out, plaintext_refused);
  return false;
}

Step Session::auth_failed(std::string_view text, std::string& out) {
  ++stats_.auth_failures;
  if (stats_.auth_failures >= static_cast<std::uint64_t>(limits::max_auth_failures)) {
    reply(out, "-ERR [AUTH] Authentication failed, too many attempts.");
    return close(CloseReason::auth_failures);
  }
  reply(out, text);
  return {};
}

Step Session::start_login(Credentials creds, std::string& out) {
  if (!valid_user_name(creds.user)) return auth_failed("-ERR [AUTH] Authentication failed.", out);
  user_ = creds.user;
  Step step{Step::Action::login};
  step.credentials = std::move(creds);
  return step;
}

Step Session::cmd_user(const Args& args, std::string& out) {
  if (!check_plaintext(out)) return {};
  if (args.list.size() != 1) return bad_command("-ERR USER takes one argument.", out);
  if (!valid_user_name(args.list[0])) return bad_command("-ERR Invalid user name.", out);
  user_ = std::string(args.list[0]);
  reply(out, "+OK");
  return {};
}

Step Session::cmd_pass(const Args& args, std::string& out) {
  if (!check_plaintext(out)) return {};
  if (user_.empty()) return bad_command("-ERR No user name given (USER first).", out);
  if (args.rest.empty()) return bad_command("-ERR PASS takes the password.", out);
  // The password is everything after "PASS ": it may contain spaces.
  mechanism_ = Mechanism::user;
  return start_login({Credentials::Kind::password, user_, std::string(args.rest)}, out);
}

Step Session::cmd_apop(const Args& args, std::string& out) {
  if (!options_.apop_enabled) return bad_command("-ERR Unknown command.", out);
  if (args.list.size() != 2 || args.list[1].size() != 32 || !is_hex(args.list[1])) {
    return bad_command("-ERR APOP takes a user name and a 32-digit hex digest.", out);
  }
  mechanism_ = Mechanism::apop;
  return start_login(
      {Credentials::Kind::apop, std::string(args.list[0]), std::string(args.list[1])}, out);
}

Step Session::cmd_auth(const Args& args, std::string& out) {
  if (args.list.empty()) {
    // Not in RFC 5034, but older clients list mechanisms this way.
    out.append("+OK\r\n");
    const std::string mechs = sasl_mechanisms();
    std::size_t start = 0;
    for (std::size_t sp; (sp = mechs.find(' ', start)) != std::string::npos; start = sp + 1) {
      reply(out, std::string_view(mechs).substr(start, sp - start));
    }
    reply(out, std::string_view(mechs).substr(start));
    out.append(".\r\n");
    return {};
  }
  if (args.list.size() > 2) return bad_command("-ERR Too many arguments.", out);
  std::string mech(args.list[0]);
  for (char& c : mech) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (mech == "OAUTHBEARER" || mech == "XOAUTH2") return start_oauth(mech, args, out);
  const bool plus = mech == "SCRAM-SHA-256-PLUS";
  if (mech == "SCRAM-SHA-256" || plus) {
    if (!plus || (options_.secure && options_.channel_binding.available())) {
      start_scram(plus);
      if (args.list.size() == 2) return on_sasl_line(args.list[1], out);
      out.append("+ \r\n");
      return {};
    }
  }
  if (mech != "PLAIN" && mech != "LOGIN") {
    return bad_command("-ERR Unsupported authentication mechanism.", out);
  }
  if (!check_plaintext(out)) return {};
  sasl_user_.clear();
  mechanism_ = mech == "PLAIN" ? Mechanism::plain : Mechanism::login;
  if (mech == "PLAIN") {
    sasl_ = Sasl::plain;
    if (args.list.size() == 2) return on_sasl_line(args.list[1], out);
    out.append("+ \r\n");
    return {};
  }
  sasl_ = Sasl::login_user;
  if (args.list.size() == 2) return on_sasl_line(args.list[1], out);
  out.append("+ VXNlcm5hbWU6\r\n");  // "Username:"
  return {};
}

Step Session::on_sasl_line(std::string_view line, std::string& out) {
  Sasl stage = sasl_;
  sasl_ = Sasl::none;
  // RFC 7628 3.2.3: whatever follows an OAuth error challenge (even "*")
  // ends the exchange with a failure.
  if (stage == Sasl::oauth_error) return auth_failed("-ERR [AUTH] Authentication failed.", out);
  if (line == "*") {
    // A cancelled exchange counts as a bad command: otherwise one connection
    // could pipeline "AUTH SCRAM-SHA-256 <first>" and "*" (a lookup each)
    // for ever.
    scram_.reset();
    return bad_command("-ERR Authentication cancelled.", out);
  }
  // RFC 5034 section 4: "=" is an empty initial response.
  std::optional<std::string> decoded =
      line == "=" ? std::optional<std::string>(std::string()) : core::base64_decode(line);
  if (!decoded) {
    scram_.reset();
    return bad_command("-ERR Invalid base64 data.", out);
  }
  switch (stage) {
    case Sasl::plain: {
      // authzid NUL authcid NUL passwd (RFC 4616)
      std::string& msg = *decoded;
      std::size_t a = msg.find('\0');
      std::size_t b = a == std::string::npos ? a : msg.find('\0', a + 1);
      if (b == std::string::npos || msg.find('\0', b + 1) != std::string::npos) {
        return bad_command("-ERR Invalid PLAIN response.", out);
      }
      std::string authzid = msg.substr(0, a), authcid = msg.substr(a + 1, b - a - 1);
      if (!authzid.empty() && authzid != authcid) {
        return auth_failed("-ERR [AUTH] Authorization identity not permitted.", out);
      }
      return start_login({Credentials::Kind::password, authcid, msg.substr(b + 1)}, out);
    }
    case Sasl::login_user:
      sasl_user_ = std::move(*decoded);
      sasl_ = Sasl::login_password;
      out.append("+ UGFzc3dvcmQ6\r\n");  // "Password:"
      return {};
    case Sasl::login_password:
      return start_login({Credentials::Kind::password, sasl_user_, std::move(*decoded)}, out);
    case Sasl::scram_first:
    case Sasl::scram_final:
    case Sasl::scram_ack:
      return on_scram(stage, *decoded, out);
    case Sasl::oauthbearer:
    case Sasl::xoauth2:
      return on_oauth_response(stage, *decoded, out);
    case Sasl::oauth_error:
    case Sasl::none:
      break;
  }
  return {};
}

Step Session::cmd_stls(const Args& args, std::string& out) {
  if (!args.list.empty()) return bad_command("-ERR STLS takes no arguments.", out);
  if (options_.secure) return bad_command("-ERR TLS is already active.", out);
  if (!options_.stls_available) return bad_command("-ERR STLS is not available.", out);
  reply(out, "+OK Begin TLS negotiation now.");
  return {Step::Action::start_tls};
}

void Session::tls_started(bool plaintext_allowed, auth::ChannelBinding binding) {
  // RFC 2595 section 4: forget everything learned before the handshake.
  options_.secure = true;
  options_.stls_available = false;
  options_.plaintext_allowed = plaintext_allowed;
  options_.channel_binding = std::move(binding);
  user_.clear();
  sasl_ = Sasl::none;
  scram_.reset();
}

Step Session::login_done(LoginOutcome outcome, const std::vector<store::MessageInfo>* messages,
                         std::string& out) {
  const bool oauth = std::exchange(oauth_login_, false);
  const bool scram_proof = std::exchange(scram_proof_, false);
  scram_.reset();
  switch (outcome) {
    case LoginOutcome::ok: {
      messages_ = messages;
      deleted_.assign(messages_->size(), false);
      retrieved_.assign(messages_->size(), false);
      state_ = State::transaction;
      std::uint64_t octets = 0;
      for (const auto& m : *messages_) octets += m.size;
      reply(out, fmt::format("+OK Logged in, {} messages ({} octets).", messages_->size(), octets));
      return {};
    }
    case LoginOutcome::in_use:
      reply(out, "-ERR [IN-USE] The maildrop is locked by another POP3 session.");
      break;
    case LoginOutcome::login_delay:
      reply(out, "-ERR [LOGIN-DELAY] Minimum time between logins not reached.");
      break;
    case LoginOutcome::temp_failure:
      if (scram_proof) {
        // A SCRAM proof refused by a gate (right or wrong, alike) counts
        // towards this connection's failures.
        user_.clear();
        return auth_failed("-ERR [SYS/TEMP] Temporary server failure, try again later.", out);
      }
      reply(out, "-ERR [SYS/TEMP] Temporary server failure, try again later.");
      break;
    case LoginOutcome::perm_failure:
      reply(out, "-ERR [SYS/PERM] The maildrop cannot be opened; contact the administrator.");
      break;
    case LoginOutcome::bad_credentials:
      user_.clear();
      if (oauth) return oauth_failed(out);
      return auth_failed("-ERR [AUTH] Authentication failed.", out);
  }
  user_.clear();
  return {};
}

}  // namespace popbox::pop3
