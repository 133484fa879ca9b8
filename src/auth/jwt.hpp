#pragma once
// JSON Web Tokens signed with RS256 or ES256 (RFC 7515 compact JWS, RFC 7518,
// RFC 7519): strict parsing, the public keys that may have signed a token
// (PEM files or a JWKS document), and signature verification with OpenSSL
// EVP. Nothing here logs or keeps the token. Claims are checked by
// oauth_validator.hpp.

#include <openssl/evp.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace popbox::auth {

/// Why a token was refused. The messages are for the log: they never
/// contain the token.
enum class jwt_errc {
  too_large = 1,     ///< longer than limits::max_jwt
  malformed,         ///< not three dot-separated parts
  bad_base64,        ///< a part is not unpadded base64url
  bad_json,          ///< the header or the claims are not a JSON object
  unsupported_alg,   ///< alg is not RS256 or ES256 (none, HS256, ... are refused)
  critical_header,   ///< a "crit" header names extensions we do not implement
  no_key,            ///< no configured key has the token's kid and type
  bad_signature,     ///< no candidate key verifies the signature
  bad_claims,        ///< a registered claim has the wrong JSON type
  wrong_issuer,      ///< iss is not the configured issuer
  wrong_audience,    ///< aud does not name the configured audience
  no_expiry,         ///< exp is missing
  expired,           ///< exp is in the past (beyond the leeway)
  not_yet_valid,     ///< nbf is in the future (beyond the leeway)
  no_user_claim,     ///< the user claim is missing or not a non-empty string
  email_unverified,  ///< the user claim is "email" and email_verified is false
};

/// The category of jwt_errc; message() explains the refusal for the log.
const std::error_category& jwt_category() noexcept;
/// Wraps a jwt_errc in a std::error_code.
std::error_code make_error_code(jwt_errc e) noexcept;

/// Decodes unpadded base64url (RFC 7515 section 2): no padding, no
/// whitespace, no stray bits; nullopt for anything else.
std::optional<std::string> base64url_decode(std::string_view in);
/// Encodes unpadded base64url.
std::string base64url_encode(std::string_view in);

/// The signature algorithms accepted.
enum class JwsAlg { rs256, es256 };

/// A compact JWS taken apart. `signing_input` points into the token.
struct Jws {
  JwsAlg alg = JwsAlg::rs256;
  std::optional<std::string> kid;
  std::string_view signing_input;  ///< BASE64URL(header) "." BASE64URL(payload)
  std::string payload;             ///< the decoded claims (JSON text, not yet parsed)
  std::string signature;           ///< raw: PKCS#1 v1.5 block, or r||s for ES256
};

/// Parses a compact JWS strictly: size cap, three base64url parts, a JSON
/// object header with an accepted alg and no "crit". Does not verify.
std::error_code parse_jws(std::string_view token, Jws& out);

/// Deletes an EVP_PKEY.
struct PkeyFree {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};

/// A public key that may sign tokens.
struct PublicKey {
  std::optional<std::string> kid;  ///< JWKS "kid"; PEM keys have none
  JwsAlg alg = JwsAlg::rs256;      ///< RSA keys verify RS256, P-256 keys ES256
  std::shared_ptr<EVP_PKEY> pkey;
};

/// Reads every PUBLIC KEY block of a PEM text (RSA of at least
/// limits::min_rsa_bits, or EC P-256); throws std::runtime_error naming
/// `origin` when there is none or one is unusable.
std::vector<PublicKey> parse_pem_keys(std::string_view pem, std::string_view origin);
/// Reads a JWKS document (RFC 7517): RSA keys from n/e, EC P-256 keys from
/// x/y. Keys for other uses or algorithms are skipped; throws
/// std::runtime_error naming `origin` when a key is broken or none is usable.
std::vector<PublicKey> parse_jwks(std::string_view json, std::string_view origin);
/// Loads public_keys (PEM files) or a jwks_file; errors name the path.
std::vector<PublicKey> load_keys(const std::vector<std::filesystem::path>& pem_files,
                                 const std::filesystem::path& jwks_file);

/// Verifies the signature with the keys that may have made it: those with
/// the token's kid, plus keys without a kid; every key of the type when the
/// token has no kid.
std::error_code verify_jws(const Jws& jws, const std::vector<PublicKey>& keys);

}  // namespace popbox::auth

template <>
struct std::is_error_code_enum<popbox::auth::jwt_errc> : std::true_type {};
