#pragma once
// OAuth 2.0 bearer tokens that are JWT access tokens (RFC 9068), validated
// locally: signature by a configured key (jwt.hpp), then issuer, audience,
// lifetime and the claim naming the user. No call to the identity provider.

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "auth/jwt.hpp"
#include "core/limits.hpp"

namespace popbox::auth {

/// What a token must say to be accepted.
struct OAuthPolicy {
  std::string issuer;      ///< `iss` must equal it
  std::string audience;    ///< `aud` must equal it or, as an array, contain it
  std::string user_claim;  ///< a string claim naming the user, e.g. "email"
  std::chrono::seconds leeway = limits::jwt_leeway;
};

/// Checks the claims (JSON text) of a token whose signature was verified;
/// on success `user` is the value of the user claim. With user_claim "email",
/// a token whose email_verified is false is refused.
std::error_code check_claims(std::string_view payload, const OAuthPolicy& policy,
                             std::chrono::system_clock::time_point now, std::string& user);

/// A policy and a fixed set of keys. Immutable, so usable from any thread.
class OAuthValidator {
 public:
  OAuthValidator(OAuthPolicy policy, std::vector<PublicKey> keys);

  /// Parses, verifies and checks `token` at time `now`; on success `user`
  /// is the user claim. The error says why for the log.
  std::error_code validate(std::string_view token, std::chrono::system_clock::time_point now,
                           std::string& user) const;
  const OAuthPolicy& policy() const noexcept { return policy_; }
  std::size_t key_count() const noexcept { return keys_.size(); }

 private:
  OAuthPolicy policy_;
  std::vector<PublicKey> keys_;
};

/// The server's validator: keys read from files at load() and reload()
/// (SIGHUP). Thread-safe; a failed reload keeps the keys it had.
class OAuthService {
 public:
  OAuthService(OAuthPolicy policy, std::vector<std::filesystem::path> public_keys,
               std::filesystem::path jwks_file);

  /// Reads the key files now; throws std::runtime_error naming the file.
  void load();
  /// Rereads the key files; on error keeps the old keys and returns the message.
  std::optional<std::string> reload();
  /// Validates `token` against the current keys at the system clock's now.
  std::error_code validate(std::string_view token, std::string& user) const;

 private:
  OAuthPolicy policy_;
  std::vector<std::filesystem::path> public_keys_;
  std::filesystem::path jwks_file_;
  mutable std::mutex mutex_;
  std::shared_ptr<const OAuthValidator> current_;
};

}  // namespace popbox::auth
