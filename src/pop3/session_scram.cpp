// Session: SASL SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, 7677, 5034).
// The exchange itself is auth::ScramServer; this file maps it onto AUTH:
//   C: AUTH SCRAM-SHA-256 [client-first]   S: + server-first    (after Action::scram)
//   C: client-final                        S: + server-final
//   C: (empty)                             S: +OK / -ERR        (after Action::login)
#include "core/base64.hpp"
#include "pop3/session.hpp"
#include "pop3/session_detail.hpp"

namespace popbox::pop3 {

using detail::reply;

void Session::start_scram(bool plus) {
  scram_ = auth::ScramServer(plus, options_.channel_binding);
  sasl_user_.clear();
  sasl_ = Sasl::scram_first;
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
      if (status == ScramStatus::ok) {
        sasl_ = Sasl::scram_ack;
        out.append("+ " + core::base64_encode(scram_.server_final()) + "\r\n");
        return {};
      }
      if (status == ScramStatus::nonce_mismatch || status == ScramStatus::binding_mismatch ||
          status == ScramStatus::bad_proof) {
        // Through the driver like a wrong password: same delay, same reply.
        const std::string user = scram_.user();
        scram_.reset();
        return start_login({Credentials::Kind::scram, user, {}, false}, out);
      }
      break;
    case Sasl::scram_ack: {
      // RFC 5034 section 4: the client answers the server-final data with an
      // empty response; only then does the login complete.
      if (!msg.empty()) {
        scram_.reset();
        return bad_command("-ERR Expected an empty response.", out);
      }
      const std::string user = scram_.user();
      scram_.reset();
      return start_login({Credentials::Kind::scram, user, {}, true}, out);
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
