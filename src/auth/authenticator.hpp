#pragma once
// What the server asks of the user database. Every call may block (file
// reads, slow password hashes): callers run it on the blocking pool, never on
// an event thread.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/credential_cache.hpp"
#include "auth/scram.hpp"
#include "auth/user_info.hpp"

namespace popbox::auth {

enum class AuthResult {
  ok,
  bad_credentials,  ///< unknown user and wrong password look the same
  temp_failure,     ///< the user database could not be read
};

/// What a SCRAM exchange needs of a user (salt, iterations, keys).
struct ScramLookup {
  AuthResult result = AuthResult::temp_failure;  ///< ok or temp_failure, never bad_credentials
  ScramSecret secret;
};

/// Users from a Dovecot-compatible passwd-file, reread when it changes on
/// disk and on reload(). Thread-safe.
class Authenticator {
 public:
  /// Users of `passwd_file` (load() reads it); successful password checks
  /// are remembered as `cache_options` says (none by default).
  explicit Authenticator(std::filesystem::path passwd_file,
                         CredentialCacheOptions cache_options = no_credential_cache());
  ~Authenticator();
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  /// Loads the file now; throws std::runtime_error naming the file and line
  /// on a problem that makes it unusable.
  void load();
  /// Rereads the file; on error keeps the users it had and returns the message.
  /// Either way the credential cache is emptied.
  std::optional<std::string> reload();

  /// Checks a user name and password (USER/PASS, SASL PLAIN/LOGIN). Does the
  /// same hashing work for unknown users; compares in constant time. A right
  /// password goes into the credential cache, a wrong one drops the user's
  /// entry.
  AuthResult verify_password(std::string_view user, std::string_view password);
  /// True if successful password checks are remembered (cached_login()).
  bool cache_enabled() const;
  /// True for one caller about once a second while cached logins are
  /// trusted without a look at the passwd-file: that caller runs recheck()
  /// before it calls cached_login(). Never blocks.
  bool claim_recheck();
  /// Compares the passwd-file with the disk and rereads it if it changed
  /// (which empties the cache). May block: call it on a pool.
  void recheck();
  /// The entry of `user` if verify_password() accepted exactly `password`
  /// within the cache's TTL and nothing dropped it since; null otherwise (a
  /// miss: check in full). Never hashes a password and never blocks, so it
  /// may run on an event thread.
  std::shared_ptr<const UserInfo> cached_login(std::string_view user, std::string_view password);
  /// Checks an APOP digest: hex MD5 of timestamp + password. Only users whose
  /// password is stored in plain text can use APOP.
  AuthResult verify_apop(std::string_view user, std::string_view timestamp,
                         std::string_view digest_hex);
  /// The SCRAM-SHA-256 secret of `user`: stored as {SCRAM-SHA-256}, or derived
  /// from a {PLAIN} password with a made-up salt. Unknown users and users
  /// whose scheme gives no SCRAM keys get a made-up secret, stable for the
  /// process (for every process, after set_scram_fake_secret()), that no proof matches: the answer
  /// does not reveal who exists.
  ScramLookup scram_lookup(std::string_view user);
  /// Makes the made-up SCRAM salts and keys of scram_lookup() depend on
  /// `material` only (load_scram_fake_secret()), so every process with the
  /// same material answers alike. Call before serving.
  void set_scram_fake_secret(const std::string& material);
  /// The entry of `user`, if it exists.
  std::optional<UserInfo> lookup(std::string_view user);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace popbox::auth
