// libFuzzer target for the OAuth bearer token code (auth/jwt.hpp,
// auth/oauth_validator.hpp, auth/oauth_sasl.hpp).
//
// The first byte picks what the rest is:
//   0: a token: parse_jws, check_claims on its payload (fixed policy and
//      time) and OAuthValidator::validate against a fixed EC key
//   1: an OAUTHBEARER client message   2: an XOAUTH2 client message
//   3: a JWKS document                 4: PEM text
//   5: claims JSON given straight to check_claims
// Checks: nothing crashes or throws (key parsers throw runtime_error only);
// base64url is canonical (decode then encode gives the input back); a
// parsed token is within limits::max_jwt and its signing input is the
// token up to the last dot; a decoded SASL message has a non-empty user and
// a token of RFC 6750 b64token characters; only a verified signature can
// make validate() succeed (so it never does here: no input is signed).

#include <openssl/evp.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "auth/jwt.hpp"
#include "auth/oauth_sasl.hpp"
#include "auth/oauth_validator.hpp"
#include "core/limits.hpp"
#include "fuzz_common.hpp"

using popbox::fuzz::escaped;
namespace auth = popbox::auth;

namespace {

const auth::OAuthPolicy policy{"https://idp.example.com", "pop3", "email"};
const std::chrono::system_clock::time_point now{std::chrono::seconds(1'800'000'000)};

const auth::OAuthValidator& validator() {
  static const auth::OAuthValidator v = [] {
    EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    std::vector<auth::PublicKey> keys{
        {std::string("ec-1"), auth::JwsAlg::es256, std::shared_ptr<EVP_PKEY>(k, auth::PkeyFree{})}};
    return auth::OAuthValidator(policy, std::move(keys));
  }();
  return v;
}

bool b64token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

void check_message(const std::optional<auth::BearerMessage>& m, std::string_view in) {
  if (!m) return;
  FUZZ_CHECK(!m->user.empty(), escaped(in));
  FUZZ_CHECK(!m->token.empty(), escaped(in));
  for (char c : m->token) FUZZ_CHECK(b64token_char(c), escaped(in));
}

void fuzz_token(std::string_view token) {
  for (std::size_t start = 0;;) {  // every part's base64url is canonical
    std::size_t dot = token.find('.', start);
    std::string_view part = token.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (auto raw = auth::base64url_decode(part)) {
      FUZZ_CHECK(auth::base64url_encode(*raw) == part, escaped(part));
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  auth::Jws jws;
  if (!auth::parse_jws(token, jws)) {
    FUZZ_CHECK(token.size() <= popbox::limits::max_jwt, "size cap");
    FUZZ_CHECK(jws.signing_input == token.substr(0, token.rfind('.')), escaped(token));
    std::string user;
    if (!auth::check_claims(jws.payload, policy, now, user)) FUZZ_CHECK(!user.empty(), "user");
  }
  std::string user;
  FUZZ_CHECK(validator().validate(token, now, user) != std::error_code(), escaped(token));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string user;
  switch (data[0] % 6) {
    case 0:
      fuzz_token(in);
      break;
    case 1:
      check_message(auth::parse_oauthbearer(in), in);
      break;
    case 2:
      check_message(auth::parse_xoauth2(in), in);
      break;
    case 3:
      try {
        auto keys = auth::parse_jwks(in, "fuzz.json");
        FUZZ_CHECK(!keys.empty(), "parse_jwks returned no keys");
      } catch (const std::runtime_error&) {
      }
      break;
    case 4:
      try {
        auth::parse_pem_keys(in, "fuzz.pem");
      } catch (const std::runtime_error&) {
      }
      break;
    case 5:
      if (!auth::check_claims(in, policy, now, user)) FUZZ_CHECK(!user.empty(), escaped(in));
      break;
  }
  return 0;
}
