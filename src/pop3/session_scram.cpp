// Session: SASL SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, 7677, 5034).
// The exchange itself is auth::ScramServer; this file maps it onto AUTH:
//   C: AUTH SCRAM-SHA-256 [client-first]   S: + server-first    (after Action::scram)
//   C: client-final                        S: + server-final    (after Action::login
//                                                                and scram_verified())
//   C: (empty)                             S: +OK / -ERR        (after Action::login)
// The proof is checked here, but its verdict goes through the driver's login
// gates (block, auth ticket, penalty wait) either way: the server-final
// message, which tells the client the password was right, is written only
// once the driver has let the login through.
#include "core/base64.hpp"
#include "pop3/session.hpp"
#include "pop3/session_detail.hpp"

namespace popbox::pop3 {

using detail::reply;

void Session::start_scram(bool plus) {
  scram_ = auth::ScramServer(plus, options_.channel_binding);
  sasl_user_.clear();
  sasl_ = Sasl::scram_first;
  mechanism_ = plus ? Mechanism::scram_sha_256_plus : Mechanism::scram_sha_256;
}

Step Session::on_scram(Sasl stage, std::string_view msg, std::string& out) {
  using auth::ScramStatus;
  ScramStatus status = ScramStatus::malformed;
  switch (stage) {
    case Sasl::scram_first:
      status = scram_.client_first(msg);
      if (status == ScramStatus::ok) {
        // An impossible name fails at once; any other goes to the lookup,
        // which answers for unknown users too.
        if (!detail::valid_user_name(scram_.user())) break;
        Step step{Step::Action::scram};
        step.credentials.kind = Credentials::Kind::scram;
        step.credentials.user = scram_.user();
        return step;
      }
      break;
    case Sasl::scram_final:
      status = scram_.client_final(msg);
      if (status == ScramStatus::ok || status == ScramStatus::nonce_mismatch ||
          status == ScramStatus::binding_mismatch || status == ScramStatus::bad_proof) {
        // Right or wrong, through the driver like a password: same gates,
        // same delay; a wrong one gets the same reply as a wrong password.
        const bool ok = status == ScramStatus::ok;
        const std::string user = scram_.user();
        if (!ok) scram_.reset();  // a right one keeps the exchange for the server-final
        Step step = start_login({Credentials::Kind::scram, user, {}, ok}, out);
        // Right or wrong, a proof that a gate then refuses counts as a
        // failure: the reply must not tell which it was.
        scram_proof_ = step.action == Step::Action::login;
        return step;
      }
      break;
    case Sasl::scram_ack: {
      // RFC 5034 section 4: the client answers the server-final data with an
      // empty response; only then does the login complete.
      if (!msg.empty()) {
        scram_.reset();
        user_.clear();
        return bad_command("-ERR Expected an empty response.", out);
      }
      const std::string user = scram_.user();
      scram_.reset();
      Credentials creds{Credentials::Kind::scram, user, {}, true};
      creds.acknowledged = true;
      return start_login(std::move(creds), out);
    }
    default:
      break;
  }
  scram_.reset();
  switch (status) {
    case ScramStatus::extension:
      return bad_command("-ERR SCRAM extensions are not supported.", out);
    case ScramStatus::binding_refused:
      // Also the downgrade case of RFC 5802 section 6 ("y" where -PLUS is offered).
      return auth_failed("-ERR [AUTH] Channel binding refused.", out);
    case ScramStatus::authzid_refused:
      return auth_failed("-ERR [AUTH] Authorization identity not permitted.", out);
    case ScramStatus::ok:  // a user name popbox never accepts
      return auth_failed("-ERR [AUTH] Authentication failed.", out);
    default:
      return bad_command("-ERR Invalid SCRAM message.", out);
  }
}

void Session::scram_verified(std::string& out) {
  out.append("+ " + core::base64_encode(scram_.server_final()) + "\r\n");
  sasl_ = Sasl::scram_ack;
}

Step Session::scram_lookup_done(std::optional<auth::ScramSecret> secret,
                                std::string_view server_nonce, std::string& out) {
  if (!secret || server_nonce.empty()) {
    scram_.reset();
    reply(out, "-ERR [SYS/TEMP] Temporary server failure, try again later.");
    return {};
  }
  const std::string first = scram_.server_first(std::move(*secret), server_nonce);
  out.append("+ " + core::base64_encode(first) + "\r\n");
  sasl_ = Sasl::scram_final;
  return {};
}

}  // namespace popbox::pop3
