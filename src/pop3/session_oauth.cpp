// Session: SASL OAUTHBEARER (RFC 7628) and XOAUTH2. The token is checked
// off the event thread like a password (Action::login, Credentials::oauth);
// a refusal is the RFC 7628 error challenge, then -ERR [AUTH].
#include <openssl/crypto.h>

#include "auth/oauth_sasl.hpp"
#include "core/base64.hpp"
#include "pop3/session.hpp"
#include "pop3/session_detail.hpp"

namespace popbox::pop3 {

Step Session::start_oauth(std::string_view mech, const Args& args, std::string& out) {
  if (!options_.oauth_enabled)
    return bad_command("-ERR Unsupported authentication mechanism.", out);
  // A bearer token is as good as a password: same rule as PLAIN.
  if (!check_plaintext(out)) return {};
  sasl_ = mech == "OAUTHBEARER" ? Sasl::oauthbearer : Sasl::xoauth2;
  mechanism_ = mech == "OAUTHBEARER" ? Mechanism::oauthbearer : Mechanism::xoauth2;
  if (args.list.size() == 2) return on_sasl_line(args.list[1], out);
  out.append("+ \r\n");
  return {};
}

Step Session::on_oauth_response(Sasl stage, std::string& msg, std::string& out) {
  auto m = stage == Sasl::oauthbearer ? auth::parse_oauthbearer(msg) : auth::parse_xoauth2(msg);
  OPENSSL_cleanse(msg.data(), msg.size());
  if (!m) {
    return bad_command(stage == Sasl::oauthbearer ? "-ERR Invalid OAUTHBEARER response."
                                                  : "-ERR Invalid XOAUTH2 response.",
                       out);
  }
  Step step = start_login({Credentials::Kind::oauth, std::move(m->user), std::move(m->token)}, out);
  oauth_login_ = step.action == Step::Action::login;
  return step;
}

Step Session::oauth_failed(std::string& out) {
  // RFC 7628 3.2.2: the error travels in a challenge; the client answers
  // (a ^A for OAUTHBEARER, anything for XOAUTH2) and then gets -ERR.
  sasl_ = Sasl::oauth_error;
  out.append("+ ");
  out.append(core::base64_encode(auth::oauth_error_challenge(options_.oauth_scope)));
  out.append("\r\n");
  return {};
}

}  // namespace popbox::pop3
