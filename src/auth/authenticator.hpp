#pragma once
// What the server asks of the user database. Every call may block (file
// reads, slow password hashes): callers run it on the blocking pool, never on
// an event thread.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/scram.hpp"

namespace popbox::auth {

enum class AuthResult {
  ok,
  bad_credentials,  ///< unknown user and wrong password look the same
  temp_failure,     ///< the user database could not be read
};

/// The parts of a passwd-file entry the rest of popbox uses.
struct UserInfo {
  std::string name;
  std::optional<unsigned> uid, gid;
  std::string home;
  std::string extra;  ///< field 8 as written (space separated key=value)
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
  explicit Authenticator(std::filesystem::path passwd_file);
  ~Authenticator();
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  /// Loads the file now; throws std::runtime_error naming the file and line
  /// on a problem that makes it unusable.
  void load();
  /// Rereads the file; on error keeps the users it had and returns the message.
  std::optional<std::string> reload();

  /// Checks a user name and password (USER/PASS, SASL PLAIN/LOGIN). Does the
  /// same hashing work for unknown users; compares in constant time.
  AuthResult verify_password(std::string_view user, std::string_view password);
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
