// JWT access token claims (RFC 7519 section 4.1, RFC 9068) and the
// reloadable validator the server uses.
#include "auth/oauth_validator.hpp"

#include <nlohmann/json.hpp>

namespace popbox::auth {
namespace {

using nlohmann::json;

bool audience_matches(const json& aud, const std::string& want) {
  if (aud.is_string()) return aud.get_ref<const std::string&>() == want;
  for (const json& a : aud) {
    if (a.is_string() && a.get_ref<const std::string&>() == want) return true;
  }
  return false;
}

}  // namespace

std::error_code check_claims(std::string_view payload, const OAuthPolicy& policy,
                             std::chrono::system_clock::time_point now, std::string& user) {
  json claims = json::parse(payload, nullptr, false);
  if (claims.is_discarded() || !claims.is_object()) return jwt_errc::bad_json;
  auto iss = claims.find("iss");
  if (iss == claims.end() || !iss->is_string() ||
      iss->get_ref<const std::string&>() != policy.issuer) {
    return jwt_errc::wrong_issuer;
  }
  auto aud = claims.find("aud");
  if (aud == claims.end() || !(aud->is_string() || aud->is_array())) {
    return jwt_errc::wrong_audience;
  }
  if (!audience_matches(*aud, policy.audience)) return jwt_errc::wrong_audience;
  // NumericDate: seconds since the epoch, possibly fractional.
  const double t = std::chrono::duration<double>(now.time_since_epoch()).count();
  const double leeway = static_cast<double>(policy.leeway.count());
  auto exp = claims.find("exp");
  if (exp == claims.end()) return jwt_errc::no_expiry;
  if (!exp->is_number()) return jwt_errc::bad_claims;
  if (!(exp->get<double>() > t - leeway)) return jwt_errc::expired;
  if (auto nbf = claims.find("nbf"); nbf != claims.end()) {
    if (!nbf->is_number()) return jwt_errc::bad_claims;
    if (!(nbf->get<double>() <= t + leeway)) return jwt_errc::not_yet_valid;
  }
  auto who = claims.find(policy.user_claim);
  if (who == claims.end() || !who->is_string() || who->get_ref<const std::string&>().empty()) {
    return jwt_errc::no_user_claim;
  }
  if (policy.user_claim == "email") {
    // OpenID Connect: an address the provider has not verified may belong
    // to anyone who typed it in at sign-up. Some providers send a string.
    if (auto v = claims.find("email_verified"); v != claims.end()) {
      const json& f = *v;
      const bool yes = f.is_boolean() ? f.get<bool>() : f.is_string() && f == "true";
      const bool no = f.is_boolean() ? !f.get<bool>() : f.is_string() && f == "false";
      if (no) return jwt_errc::email_unverified;
      if (!yes) return jwt_errc::bad_claims;
    }
  }
  user = who->get<std::string>();
  return {};
}

OAuthValidator::OAuthValidator(OAuthPolicy policy, std::vector<PublicKey> keys)
    : policy_(std::move(policy)), keys_(std::move(keys)) {}

std::error_code OAuthValidator::validate(std::string_view token,
                                         std::chrono::system_clock::time_point now,
                                         std::string& user) const {
  Jws jws;
  if (auto ec = parse_jws(token, jws)) return ec;
  // The signature first: claims of an unauthenticated token mean nothing.
  if (auto ec = verify_jws(jws, keys_)) return ec;
  return check_claims(jws.payload, policy_, now, user);
}

OAuthService::OAuthService(OAuthPolicy policy, std::vector<std::filesystem::path> public_keys,
                           std::filesystem::path jwks_file)
    : policy_(std::move(policy)),
      public_keys_(std::move(public_keys)),
      jwks_file_(std::move(jwks_file)) {}

void OAuthService::load() {
  auto next = std::make_shared<const OAuthValidator>(policy_, load_keys(public_keys_, jwks_file_));
  std::lock_guard lock(mutex_);
  current_ = std::move(next);
}

std::optional<std::string> OAuthService::reload() {
  try {
    load();
  } catch (const std::exception& e) {
    return e.what();
  }
  return std::nullopt;
}

std::error_code OAuthService::validate(std::string_view token, std::string& user) const {
  std::shared_ptr<const OAuthValidator> v;
  {
    std::lock_guard lock(mutex_);
    v = current_;
  }
  if (!v) return jwt_errc::no_key;
  return v->validate(token, std::chrono::system_clock::now(), user);
}

}  // namespace popbox::auth
