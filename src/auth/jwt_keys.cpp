// The keys that may sign tokens: PEM public keys and JWKS documents
// (RFC 7517, RFC 7518 section 6), built with OpenSSL 3's EVP_PKEY_fromdata.
#include <fmt/format.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "auth/jwt.hpp"
#include "core/limits.hpp"

namespace popbox::auth {
namespace {

using nlohmann::json;

[[noreturn]] void fail(std::string_view origin, std::string_view what) {
  throw std::runtime_error(fmt::format("{}: {}", origin, what));
}

struct BioFree {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const noexcept { EVP_PKEY_CTX_free(c); }
};
struct BldFree {
  void operator()(OSSL_PARAM_BLD* b) const noexcept { OSSL_PARAM_BLD_free(b); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const noexcept { OSSL_PARAM_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* b) const noexcept { BN_free(b); }
};

// Accepts RSA keys of a sane size and EC keys on P-256; anything else is
// a configuration mistake worth stopping for.
JwsAlg classify(EVP_PKEY* pkey, std::string_view origin) {
  if (EVP_PKEY_is_a(pkey, "RSA")) {
    if (EVP_PKEY_get_bits(pkey) < static_cast<int>(limits::min_rsa_bits)) {
      fail(origin, fmt::format("RSA key of {} bits is too small (at least {})",
                               EVP_PKEY_get_bits(pkey), limits::min_rsa_bits));
    }
    return JwsAlg::rs256;
  }
  if (EVP_PKEY_is_a(pkey, "EC")) {
    char group[64] = {};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &len) == 1 &&
        std::string_view(group, len) == "prime256v1") {
      return JwsAlg::es256;
    }
    fail(origin, "EC key is not on P-256 (ES256)");
  }
  fail(origin, "key is neither RSA nor EC P-256");
}

std::string b64_field(const json& jwk, const char* name, std::string_view origin) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) fail(origin, fmt::format("JWK lacks '{}'", name));
  auto raw = base64url_decode(it->get<std::string>());
  if (!raw || raw->empty()) fail(origin, fmt::format("JWK '{}' is not base64url", name));
  return *raw;
}

EVP_PKEY* from_params(const char* type, OSSL_PARAM_BLD* bld, std::string_view origin) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    ERR_clear_error();
    fail(origin, fmt::format("JWK is not a valid {} public key", type));
  }
  return pkey;
}

EVP_PKEY* rsa_from_jwk(const json& jwk, std::string_view origin) {
  std::string n = b64_field(jwk, "n", origin), e = b64_field(jwk, "e", origin);
  auto bn = [](const std::string& s) {
    return std::unique_ptr<BIGNUM, BnFree>(BN_bin2bn(
        reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()), nullptr));
  };
  auto bn_n = bn(n), bn_e = bn(e);
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    fail(origin, "out of memory building an RSA key");
  }
  return from_params("RSA", bld.get(), origin);
}

EVP_PKEY* ec_from_jwk(const json& jwk, std::string_view origin) {
  auto crv = jwk.find("crv");
  if (crv == jwk.end() || *crv != "P-256") fail(origin, "EC JWK must have crv \"P-256\"");
  std::string x = b64_field(jwk, "x", origin), y = b64_field(jwk, "y", origin);
  if (x.size() != 32 || y.size() != 32) fail(origin, "EC JWK x and y must be 32 bytes each");
  std::string point = "\x04" + x + y;  // SEC 1 uncompressed point
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    fail(origin, "out of memory building an EC key");
  }
  return from_params("EC", bld.get(), origin);
}

// Checks that an imported point is on the curve / the modulus is sane.
void check_public(EVP_PKEY* pkey, std::string_view origin) {
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!ctx || EVP_PKEY_public_check(ctx.get()) != 1) {
    ERR_clear_error();
    fail(origin, "JWK public key fails OpenSSL's validity check");
  }
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path.string(), "cannot read the key file");
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

}  // namespace

std::vector<PublicKey> parse_pem_keys(std::string_view pem, std::string_view origin) {
  std::vector<PublicKey> keys;
  // One block at a time, so a broken block is an error, not the end.
  constexpr std::string_view begin = "-----BEGIN ";
  for (std::size_t pos = pem.find(begin); pos != std::string_view::npos;
       pos = pem.find(begin, pos + 1)) {
    std::string_view rest = pem.substr(pos);
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(rest.data(), static_cast<int>(rest.size())));
    if (!bio) fail(origin, "out of memory");
    EVP_PKEY* raw = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
    ERR_clear_error();
    if (!raw) {
      fail(origin, fmt::format("PEM block {} is not a valid PUBLIC KEY", keys.size() + 1));
    }
    std::shared_ptr<EVP_PKEY> pkey(raw, PkeyFree{});
    keys.push_back({std::nullopt, classify(raw, origin), std::move(pkey)});
  }
  if (keys.empty()) fail(origin, "no PEM public key (-----BEGIN PUBLIC KEY-----) found");
  return keys;
}

std::vector<PublicKey> parse_jwks(std::string_view text, std::string_view origin) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) fail(origin, "not a JSON object");
  auto list = doc.find("keys");
  if (list == doc.end() || !list->is_array()) fail(origin, "JWKS has no \"keys\" array");
  std::vector<PublicKey> keys;
  for (const json& jwk : *list) {
    if (!jwk.is_object()) fail(origin, "a JWKS key is not an object");
    auto kty = jwk.find("kty");
    if (kty == jwk.end() || !kty->is_string()) fail(origin, "a JWKS key has no \"kty\"");
    // Encryption keys and keys for other algorithms are not ours to use.
    if (auto use = jwk.find("use"); use != jwk.end() && *use != "sig") continue;
    std::optional<std::string> kid;
    if (auto k = jwk.find("kid"); k != jwk.end()) {
      if (!k->is_string()) fail(origin, "a JWKS \"kid\" is not a string");
      kid = k->get<std::string>();
    }
    auto alg = jwk.find("alg");
    EVP_PKEY* raw = nullptr;
    if (*kty == "RSA") {
      if (alg != jwk.end() && *alg != "RS256") continue;
      raw = rsa_from_jwk(jwk, origin);
    } else if (*kty == "EC") {
      if (alg != jwk.end() && *alg != "ES256") continue;
      raw = ec_from_jwk(jwk, origin);
    } else {
      continue;  // "oct" (symmetric), "OKP": never accepted
    }
    std::shared_ptr<EVP_PKEY> pkey(raw, PkeyFree{});
    check_public(raw, origin);
    keys.push_back({std::move(kid), classify(raw, origin), std::move(pkey)});
  }
  if (keys.empty()) fail(origin, "JWKS has no RS256 or ES256 signing key");
  return keys;
}

std::vector<PublicKey> load_keys(const std::vector<std::filesystem::path>& pem_files,
                                 const std::filesystem::path& jwks_file) {
  std::vector<PublicKey> keys;
  for (const auto& path : pem_files) {
    auto more = parse_pem_keys(read_file(path), path.string());
    keys.insert(keys.end(), more.begin(), more.end());
  }
  if (!jwks_file.empty()) {
    auto more = parse_jwks(read_file(jwks_file), jwks_file.string());
    keys.insert(keys.end(), more.begin(), more.end());
  }
  return keys;
}

}  // namespace popbox::auth
