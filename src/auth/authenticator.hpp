#pragma once
// What the server asks of the user database: password checks, APOP, SCRAM
// and lookups on top of any UserSource (passwd-file, PostgreSQL, the
// sandbox's inboxes). Every call may block (file or database reads, slow
// password hashes): callers run it on the blocking pool, never on an event
// thread.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "auth/credential_cache.hpp"
#include "auth/scram.hpp"
#include "auth/user_info.hpp"

namespace popbox::auth {

enum class AuthResult {
  ok,
  bad_credentials,  ///< unknown user and wrong password look the same
  temp_failure,     ///< the user source could not answer (file unreadable, database down)
};

/// What a SCRAM exchange needs of a user (salt, iterations, keys).
struct ScramLookup {
  AuthResult result = AuthResult::temp_failure;  ///< ok or temp_failure, never bad_credentials
  ScramSecret secret;
};

class UserSource;

/// Checks credentials against the users of a UserSource, which it asks at
/// most once a second whether they changed (and on reload()). Thread-safe.
class Authenticator {
 public:
  /// Users of `users` (not null; load() loads them); successful password
  /// checks are remembered as `cache_options` says (none by default).
  explicit Authenticator(std::shared_ptr<UserSource> users,
                         CredentialCacheOptions cache_options = no_credential_cache());
  /// Users of the passwd-file `passwd_file` (make_passwd_file_source()).
  explicit Authenticator(const std::filesystem::path& passwd_file,
                         CredentialCacheOptions cache_options = no_credential_cache());
  ~Authenticator();
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  /// Loads the users now; throws std::runtime_error with the source's
  /// message (file and line, database) on a problem that makes it unusable.
  void load();
  /// Rereads the users; on error keeps the ones it had and returns the
  /// message. Either way the credential cache is emptied.
  std::optional<std::string> reload();

  /// Checks a user name and password (USER/PASS, SASL PLAIN/LOGIN). Does the
  /// same hashing work for unknown users; compares in constant time. An
  /// entry with any_password takes every password. A right password goes
  /// into the credential cache, a wrong one drops the user's entry;
  /// temp_failure when the source cannot answer.
  AuthResult verify_password(std::string_view user, std::string_view password);
  /// True if successful password checks are remembered (cached_login()).
  bool cache_enabled() const;
  /// True for one caller about once a second while cached logins are
  /// trusted without a look at the source: that caller runs recheck()
  /// before it calls cached_login(). Never blocks.
  bool claim_recheck();
  /// Asks the source whether the users changed (a passwd-file edited on
  /// disk); if so the cache is emptied. May block: call it on a pool.
  void recheck();
  /// The entry of `user` if verify_password() accepted exactly `password`
  /// within the cache's TTL and nothing dropped it since; null otherwise (a
  /// miss: check in full). Never hashes a password and never blocks, so it
  /// may run on an event thread.
  std::shared_ptr<const UserInfo> cached_login(std::string_view user, std::string_view password);
  /// Checks an APOP digest: hex MD5 of timestamp + password. Only users whose
  /// password is stored in plain text can use APOP; temp_failure when the
  /// source cannot answer.
  AuthResult verify_apop(std::string_view user, std::string_view timestamp,
                         std::string_view digest_hex);
  /// The SCRAM-SHA-256 secret of `user`: stored as {SCRAM-SHA-256}, or derived
  /// from a {PLAIN} password with a made-up salt. Unknown users and users
  /// whose scheme gives no SCRAM keys get a made-up secret, stable for the
  /// process (for every process, after set_scram_fake_secret()), that no proof matches: the answer
  /// does not reveal who exists. temp_failure when the source cannot answer.
  ScramLookup scram_lookup(std::string_view user);
  /// Makes the made-up SCRAM salts and keys of scram_lookup() depend on
  /// `material` only (load_scram_fake_secret()), so every process with the
  /// same material answers alike. Call before serving.
  void set_scram_fake_secret(const std::string& material);
  /// The entry of `user`; nullopt when there is none, or (with `ec` set)
  /// when the source cannot answer now (LMTP: 451, not 550).
  std::optional<UserInfo> lookup(std::string_view user, std::error_code& ec);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace popbox::auth
