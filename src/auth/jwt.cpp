// Compact JWS parsing and RS256/ES256 signature verification (RFC 7515, 7518).
#include "auth/jwt.hpp"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <sodium.h>

#include <nlohmann/json.hpp>

#include "core/limits.hpp"

namespace popbox::auth {
namespace {

class JwtCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "jwt"; }
  std::string message(int ev) const override {
    switch (static_cast<jwt_errc>(ev)) {
      case jwt_errc::too_large:
        return "token too large";
      case jwt_errc::malformed:
        return "token is not a compact JWS (three dot-separated parts)";
      case jwt_errc::bad_base64:
        return "token part is not unpadded base64url";
      case jwt_errc::bad_json:
        return "token header or claims are not a JSON object";
      case jwt_errc::unsupported_alg:
        return "token algorithm not accepted (only RS256 and ES256)";
      case jwt_errc::critical_header:
        return "token has critical header extensions";
      case jwt_errc::no_key:
        return "no configured key matches the token's kid and algorithm";
      case jwt_errc::bad_signature:
        return "token signature does not verify";
      case jwt_errc::bad_claims:
        return "token claim has the wrong type";
      case jwt_errc::wrong_issuer:
        return "token issuer (iss) is not the configured issuer";
      case jwt_errc::wrong_audience:
        return "token audience (aud) does not contain the configured audience";
      case jwt_errc::no_expiry:
        return "token has no expiry (exp)";
      case jwt_errc::expired:
        return "token expired";
      case jwt_errc::not_yet_valid:
        return "token not yet valid (nbf)";
      case jwt_errc::no_user_claim:
        return "token lacks the user claim (or it is not a string)";
      case jwt_errc::email_unverified:
        return "token email is not verified (email_verified is false)";
    }
    return "unknown JWT error";
  }
};

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};

// JWS ES256 signatures are r||s, 32 bytes each (RFC 7518 3.4); EVP wants
// the DER ECDSA-Sig-Value.
std::optional<std::string> es256_to_der(std::string_view raw) {
  if (raw.size() != 64) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(p, 32, nullptr);
  BIGNUM* s = BN_bin2bn(p + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return std::nullopt;
  }
  std::optional<std::string> out;
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig, &der);
  if (len > 0) out = std::string(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

bool verify_with(const PublicKey& key, std::string_view input, std::string_view sig) {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.pkey.get()) != 1) {
    return false;
  }
  // RSA keys default to PKCS#1 v1.5 padding, which is what RS256 is.
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

}  // namespace

const std::error_category& jwt_category() noexcept {
  static const JwtCategory category;
  return category;
}

std::error_code make_error_code(jwt_errc e) noexcept {
  return {static_cast<int>(e), jwt_category()};
}

std::optional<std::string> base64url_decode(std::string_view in) {
  // libsodium 1.0.18 maps some bytes >= 0x80 to sextets instead of
  // refusing them (found by fuzz_jwt): check the alphabet first.
  for (char c : in) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_')) {
      return std::nullopt;
    }
  }
  std::string out(in.size() / 4 * 3 + 3, '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  // No `ignore` characters: whitespace is an error. libsodium also refuses
  // padding in this variant and non-zero unused bits.
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(),
                        in.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != in.data() + in.size()) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

std::string base64url_encode(std::string_view in) {
  constexpr int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_ENCODED_LEN(in.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(in.data()),
                    in.size(), variant);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

std::error_code parse_jws(std::string_view token, Jws& out) {
  if (token.size() > limits::max_jwt) return jwt_errc::too_large;
  std::size_t dot1 = token.find('.');
  std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos ||
      dot1 == 0 || dot2 == dot1 + 1) {
    return jwt_errc::malformed;
  }
  auto header_text = base64url_decode(token.substr(0, dot1));
  auto payload = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = base64url_decode(token.substr(dot2 + 1));
  if (!header_text || !payload || !signature) return jwt_errc::bad_base64;
  auto header = nlohmann::json::parse(*header_text, nullptr, false);
  if (header.is_discarded() || !header.is_object()) return jwt_errc::bad_json;
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string()) return jwt_errc::unsupported_alg;
  // Exact, case-sensitive names (RFC 7515 4.1.1). Everything else,
  // "none" and the HMAC family included, is refused: keys here are public.
  if (*alg == "RS256") {
    out.alg = JwsAlg::rs256;
  } else if (*alg == "ES256") {
    out.alg = JwsAlg::es256;
  } else {
    return jwt_errc::unsupported_alg;
  }
  // RFC 7515 4.1.11: extensions listed in "crit" must be understood.
  if (header.contains("crit")) return jwt_errc::critical_header;
  out.kid.reset();
  if (auto kid = header.find("kid"); kid != header.end()) {
    if (!kid->is_string()) return jwt_errc::bad_json;
    out.kid = kid->get<std::string>();
  }
  out.signing_input = token.substr(0, dot2);
  out.payload = std::move(*payload);
  out.signature = std::move(*signature);
  return {};
}

std::error_code verify_jws(const Jws& jws, const std::vector<PublicKey>& keys) {
  std::string der;
  std::string_view sig = jws.signature;
  if (jws.alg == JwsAlg::es256) {
    auto converted = es256_to_der(jws.signature);
    if (!converted) return jwt_errc::bad_signature;
    der = std::move(*converted);
    sig = der;
  }
  bool candidate = false;
  for (const auto& key : keys) {
    if (key.alg != jws.alg) continue;
    if (jws.kid && key.kid && *key.kid != *jws.kid) continue;
    candidate = true;
    if (verify_with(key, jws.signing_input, sig)) return {};
  }
  return candidate ? jwt_errc::bad_signature : jwt_errc::no_key;
}

}  // namespace popbox::auth
