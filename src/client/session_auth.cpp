// Session: the AUTHORIZATION state of the client — greeting, CAPA, STLS and
// the login mechanisms (USER/PASS, APOP, SASL PLAIN, LOGIN, XOAUTH2,
// OAUTHBEARER).
#include <fmt/format.h>

#include "client/session.hpp"
#include "client/session_detail.hpp"
#include "core/base64.hpp"

namespace popbox::client {

void Session::on_greeting(std::string_view line, Event& ev) {
  if (!detail::is_ok(line)) {
    fail_reply(ev, fetch_errc::temporary, "the server refused the connection", line);
    return;
  }
  if (auto ts = greeting_timestamp(line)) timestamp_ = *ts;
  send("CAPA");
  phase_ = Phase::capa;
}

void Session::after_capa(Event& ev) {
  if (options_.tls == TlsMode::starttls && !secure_) {
    // Sent even when CAPA does not list STLS: a refusal fails the session,
    // it never falls back to plaintext.
    send("STLS");
    phase_ = Phase::stls;
    return;
  }
  begin_auth(ev);
}

void Session::on_stls(bool ok, std::string_view line, Event& ev) {
  if (!ok) {
    fail(ev, fetch_errc::tls,
         fmt::format("the server refused STLS (\"{}\"); not falling back to plaintext", line));
    return;
  }
  phase_ = Phase::tls_wait;
  ev.kind = EventKind::start_tls;
}

void Session::tls_started() {
  secure_ = true;
  reader_.discard();
  caps_ = Capabilities();  // RFC 2595: capabilities may change under TLS
  send("CAPA");
  phase_ = Phase::capa;
}

void Session::begin_auth(Event& ev) {
  // Defence in depth: the drivers never get here without TLS unless the
  // account says tls = "none".
  if (!secure_ && options_.tls != TlsMode::none) {
    fail(ev, fetch_errc::tls, "refusing to log in without TLS");
    return;
  }
  if (options_.user.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    fail(ev, fetch_errc::config, "the user name contains a line break or NUL");
    return;
  }
  auto mech = choose_auth(options_.auth, caps_, !timestamp_.empty(), secure_);
  if (!mech) {
    fail(ev, fetch_errc::auth, "the server offers no login mechanism popbox can use");
    return;
  }
  mech_ = *mech;
  phase_ = Phase::auth;
  const std::string& user = options_.user;
  const std::string& secret = options_.secret;
  switch (mech_) {
    case AuthMech::automatic:
    case AuthMech::user:
      auth_step_ = AuthStep::user;
      send("USER " + user);
      return;
    case AuthMech::apop:
      if (timestamp_.empty()) {
        fail(ev, fetch_errc::auth, "APOP: the server's greeting carries no timestamp");
        return;
      }
      auth_step_ = AuthStep::apop;
      send(fmt::format("APOP {} {}", user, apop_digest(timestamp_, secret)));
      return;
    case AuthMech::plain:
      start_sasl("PLAIN", {sasl_plain(user, secret)}, false);
      return;
    case AuthMech::login:
      start_sasl("LOGIN", {core::base64_encode(user), core::base64_encode(secret)}, false);
      return;
    case AuthMech::xoauth2:
      start_sasl("XOAUTH2", {sasl_xoauth2(user, secret)}, true);
      return;
    case AuthMech::oauthbearer:
      start_sasl("OAUTHBEARER", {sasl_oauthbearer(user, options_.host, options_.port, secret)},
                 true);
      return;
  }
}

void Session::start_sasl(std::string_view name, std::vector<std::string> responses, bool oauth) {
  auth_step_ = AuthStep::sasl;
  sasl_responses_ = std::move(responses);
  sasl_next_ = 0;
  sasl_oauth_ = oauth;
  std::string command = fmt::format("AUTH {}", name);
  // PLAIN goes in one line when it fits (RFC 5034 initial response). OAuth
  // tokens always take the two-step form ("AUTH XOAUTH2", "+ ", token):
  // Microsoft's servers require it and every server accepts it.
  if (!oauth && name == "PLAIN" &&
      command.size() + 1 + sasl_responses_[0].size() + 2 <= limits::max_command) {
    command += ' ';
    command += sasl_responses_[0];
    wipe(sasl_responses_[0]);
    sasl_next_ = 1;
  }
  send(command);
  wipe(command);
}

void Session::on_auth(std::string_view line, Event& ev) {
  if (auth_step_ == AuthStep::sasl && detail::is_continuation(line)) {
    if (sasl_next_ < sasl_responses_.size()) {
      send(sasl_responses_[sasl_next_]);
      wipe(sasl_responses_[sasl_next_]);
      ++sasl_next_;
      return;
    }
    if (sasl_oauth_ && oauth_error_.empty()) {
      // RFC 7628 3.2.3 (and XOAUTH2): a challenge after the token carries
      // a JSON error; answer with a dummy response to get the -ERR.
      std::string_view data = line.size() > 2 ? line.substr(2) : std::string_view();
      auto json = core::base64_decode(data);
      oauth_error_ = json ? *json : std::string(data);
      if (oauth_error_.empty()) oauth_error_ = "(empty challenge)";
      send(mech_ == AuthMech::xoauth2 ? "" : core::base64_encode("\x01"));
      return;
    }
    send("*");  // a challenge this mechanism does not expect: cancel
    return;
  }
  bool ok = detail::is_ok(line);
  if (!ok && !detail::is_err(line)) {
    fail(ev, fetch_errc::protocol, fmt::format("unexpected reply during login: \"{}\"", line));
    return;
  }
  if (!ok) {
    std::string what =
        fmt::format("login as {} with {} failed", options_.user, auth_mech_name(mech_));
    if (auth_step_ == AuthStep::user)
      what = fmt::format("the server refused USER {}", options_.user);
    if (!oauth_error_.empty()) what += fmt::format(" (OAuth error: {})", oauth_error_);
    fail_reply(ev, fetch_errc::auth, what, line);
    // [SYS/PERM], [SYS/TEMP], [IN-USE]...: the token is not the problem.
    std::string_view code = detail::response_code(line);
    ev.failure.credentials_refused = code.empty() || code == "AUTH";
    return;
  }
  if (auth_step_ == AuthStep::user) {
    auth_step_ = AuthStep::pass;
    // Appended in place: no temporary copy of the password is left behind.
    out_.append("PASS ").append(options_.secret).append("\r\n");
    return;
  }
  authenticated();
}

void Session::authenticated() {
  forget_secrets();
  phase_ = Phase::transaction;
  queue_.push_back({Cmd::uidl});
  queue_.push_back({Cmd::list});
}

void Session::output_done() {
  // Commands written during login may hold a password or token.
  if (phase_ == Phase::auth) {
    wipe(out_);
  } else {
    out_.clear();
  }
}

void Session::forget_secrets() noexcept {
  wipe(options_.secret);
  for (auto& r : sasl_responses_) wipe(r);
}

}  // namespace popbox::client
