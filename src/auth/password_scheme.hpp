#pragma once
// Dovecot-compatible stored passwords: "{SCHEME}data", or bare crypt(3)
// strings. Everything here is pure computation on strings, safe to call from
// many threads at once, and never throws on malformed stored values: a value
// popbox cannot check simply never matches.

#include <optional>
#include <string>
#include <string_view>

namespace popbox::auth {

/// A stored password split into its parts. `scheme` is upper-cased and
/// includes an encoding suffix if one was written ("SHA512.HEX").
struct StoredPassword {
  std::string scheme;
  std::string_view data;  ///< points into the string that was split
};

/// Splits "{SCHEME}data". A value without a "{...}" prefix is CRYPT, which is
/// Dovecot's default scheme for passwd-files.
StoredPassword split_scheme(std::string_view stored);

/// True if popbox can verify passwords stored with `scheme` (case-insensitive,
/// with or without a ".b64"/".base64"/".hex" suffix).
bool scheme_supported(std::string_view scheme);

/// True only if `password` matches `stored`. Unknown schemes, empty or
/// malformed data never match. Constant-time in the comparison.
bool verify_password(std::string_view stored, std::string_view password);

/// Hashes `password` for storage: "{ARGON2ID}$argon2id$...". Throws
/// std::runtime_error if libsodium cannot allocate the work memory.
std::string hash_password(std::string_view password);

/// Hashes `password` with `scheme` (case-insensitive): "ARGON2ID" as above or
/// "SCRAM-SHA-256" (doveadm's format, 4096 iterations, 16-byte salt). Throws
/// std::invalid_argument for any other scheme, std::runtime_error on failure.
std::string hash_password(std::string_view password, std::string_view scheme);

/// The clear-text password, if `stored` keeps one (PLAIN, CLEAR, CLEARTEXT);
/// APOP needs it. The caller should wipe the result after use.
std::optional<std::string> plaintext_password(std::string_view stored);

/// True if `digest_hex` (32 hex digits, either case) is MD5(timestamp +
/// plaintext), as RFC 1939 APOP defines. Constant-time comparison.
bool verify_apop_digest(std::string_view plaintext, std::string_view timestamp,
                        std::string_view digest_hex);

/// A label grouping stored passwords that cost the same to verify, e.g.
/// "crypt:$6$rounds=5000" or "argon2:$argon2id$v=19$m=65536,t=3,p=1";
/// all cheap digest schemes share "fast".
std::string cost_class(std::string_view stored);

/// A stored password that no real password matches but which costs as much
/// to verify as `stored` (same algorithm and parameters), for checking
/// unknown users. Cheap schemes get a fixed salted-SHA512 value.
std::string dummy_hash_like(std::string_view stored);

}  // namespace popbox::auth
