#pragma once
// SCRAM-SHA-256 (RFC 5802, RFC 7677): the stored secret in Dovecot's format
// and the key arithmetic. Pure computation (OpenSSL EVP/HMAC), thread-safe,
// never throws on malformed input.

#include <optional>
#include <string>
#include <string_view>

namespace popbox::auth {

/// What a server keeps for one user: "{SCRAM-SHA-256}iterations,salt,StoredKey,
/// ServerKey" as `doveadm pw -s SCRAM-SHA-256` writes it. Binary fields are raw
/// bytes here, base64 in the file.
struct ScramSecret {
  unsigned iterations = 0;
  std::string salt;
  std::string stored_key;  ///< H(HMAC(SaltedPassword, "Client Key"))
  std::string server_key;  ///< HMAC(SaltedPassword, "Server Key")
};

/// The channel binding of a TLS link (RFC 5929, RFC 9266). `type` is
/// "tls-exporter" or "tls-unique"; empty when the link has none (not TLS).
struct ChannelBinding {
  std::string type;
  std::string data;
  bool available() const noexcept { return !type.empty() && !data.empty(); }
};

/// The scheme name in the passwd-file, without braces.
inline constexpr std::string_view scram_scheme = "SCRAM-SHA-256";

/// Parses the data after "{SCRAM-SHA-256}"; nullopt if malformed, if the keys
/// are not 32 bytes or the iteration count is outside 1..max_scram_iterations.
std::optional<ScramSecret> parse_scram_secret(std::string_view data);

/// The passwd-file form "{SCRAM-SHA-256}4096,salt,StoredKey,ServerKey".
std::string format_scram_secret(const ScramSecret& secret);

/// Derives the keys of `password` with `salt` and `iterations` (PBKDF2-HMAC-
/// SHA-256). nullopt only if OpenSSL fails.
std::optional<ScramSecret> derive_scram_secret(std::string_view password, std::string_view salt,
                                               unsigned iterations);

/// A new stored secret for `password` with a random 16-byte salt and 4096
/// iterations, exactly as doveadm makes one. Throws std::runtime_error if
/// the random generator or OpenSSL fails.
std::string make_scram_secret(std::string_view password);

/// True if `password` produces the keys of `secret` (PASS/PLAIN against a
/// SCRAM secret). Constant-time comparison.
bool verify_scram_password(const ScramSecret& secret, std::string_view password);

/// True if `proof` (raw ClientProof) proves knowledge of the password for
/// `auth_message`: H(proof XOR HMAC(StoredKey, AuthMessage)) == StoredKey,
/// compared in constant time.
bool scram_proof_valid(const ScramSecret& secret, std::string_view auth_message,
                       std::string_view proof);

/// ServerSignature = HMAC(ServerKey, AuthMessage), raw bytes.
std::string scram_server_signature(const ScramSecret& secret, std::string_view auth_message);

/// The server's part of a SCRAM nonce: random bytes (RAND_bytes), base64
/// encoded, so printable and without ','. Empty if the generator fails.
std::string make_scram_nonce();

/// HMAC-SHA-256 of `data` under `key`, raw 32 bytes; empty if OpenSSL fails.
std::string hmac_sha256(std::string_view key, std::string_view data);

/// Overwrites the secret's keys and salt and empties them.
void wipe(ScramSecret& secret) noexcept;

}  // namespace popbox::auth
