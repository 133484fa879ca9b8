// JWT access token validation: keys made and tokens signed here with
// OpenSSL EVP, so every case is a real signature.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "auth/jwt.hpp"
#include "auth/oauth_validator.hpp"

using namespace popbox::auth;
using std::chrono::system_clock;

namespace {

constexpr long now_s = 1'800'000'000;
const system_clock::time_point now{std::chrono::seconds(now_s)};

std::shared_ptr<EVP_PKEY> keygen(const char* type) {
  EVP_PKEY* k = std::string_view(type) == "RSA"
                    ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048))
                    : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  return {k, PkeyFree{}};
}

// One RSA and one EC key for the whole binary (RSA generation is slow).
const std::shared_ptr<EVP_PKEY>& rsa_key() {
  static auto k = keygen("RSA");
  return k;
}
const std::shared_ptr<EVP_PKEY>& ec_key() {
  static auto k = keygen("EC");
  return k;
}
const std::shared_ptr<EVP_PKEY>& other_rsa_key() {
  static auto k = keygen("RSA");
  return k;
}

std::string public_pem(EVP_PKEY* k) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, k);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return pem;
}

std::string sign(EVP_PKEY* k, std::string_view input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, k), 1);
  std::size_t len = 0;
  auto* in = reinterpret_cast<const unsigned char*>(input.data());
  EVP_DigestSign(ctx, nullptr, &len, in, input.size());
  std::string sig(len, '\0');
  EXPECT_EQ(
      EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, in, input.size()), 1);
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (!EVP_PKEY_is_a(k, "EC")) return sig;
  // DER ECDSA-Sig-Value -> JWS r||s
  const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(es);
  return raw;
}

std::string hs256(std::string_view secret, std::string_view input) {
  unsigned char mac[32];
  std::size_t len = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
            reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, sizeof mac,
            &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

std::string token(const std::string& header, const std::string& claims, EVP_PKEY* k) {
  std::string input = base64url_encode(header) + "." + base64url_encode(claims);
  return input + "." + base64url_encode(sign(k, input));
}

std::string claims(const std::string& extra = "", long exp = now_s + 600) {
  return R"({"iss":"https://idp.example.com","aud":"pop3","email":"alice@example.com","exp":)" +
         std::to_string(exp) + extra + "}";
}

const std::string rs_header = R"({"alg":"RS256","typ":"JWT"})";
const std::string es_header = R"({"alg":"ES256","typ":"at+jwt"})";

OAuthPolicy policy() {
  return {"https://idp.example.com", "pop3", "email"};
}

OAuthValidator pem_validator() {
  auto keys = parse_pem_keys(public_pem(rsa_key().get()) + public_pem(ec_key().get()), "test");
  return OAuthValidator(policy(), std::move(keys));
}

std::string b64_bn(const EVP_PKEY* k, const char* param, int pad = 0) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(k, param, &bn);
  std::string out(pad ? static_cast<std::size_t>(pad) : static_cast<std::size_t>(BN_num_bytes(bn)),
                  '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  BN_free(bn);
  return base64url_encode(out);
}

std::string jwks() {
  return R"({"keys":[{"kty":"oct","k":"c2VjcmV0"},)"
         R"({"kty":"RSA","kid":"rsa-1","use":"sig","alg":"RS256","n":")" +
         b64_bn(rsa_key().get(), OSSL_PKEY_PARAM_RSA_N) + R"(","e":")" +
         b64_bn(rsa_key().get(), OSSL_PKEY_PARAM_RSA_E) + R"("},)" +
         R"({"kty":"EC","kid":"ec-1","crv":"P-256","x":")" +
         b64_bn(ec_key().get(), OSSL_PKEY_PARAM_EC_PUB_X, 32) + R"(","y":")" +
         b64_bn(ec_key().get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32) + R"("}]})";
}

struct Case {
  const char* name;
  std::function<std::string()> make;
  std::error_code want;
};

// Changes one signature character well before the last, whose unused bits
// must stay zero (that would be a base64 error, not a signature one).
std::string corrupt_signature(std::string t) {
  char& c = t[t.size() - 10];
  c = c == 'A' ? 'B' : 'A';
  return t;
}

}  // namespace

TEST(Jwt, TableOfTokensAgainstPemKeys) {
  EVP_PKEY* rsa = rsa_key().get();
  EVP_PKEY* ec = ec_key().get();
  const std::string rsa_pem = public_pem(rsa);
  const Case cases[] = {
      {"good RS256", [&] { return token(rs_header, claims(), rsa); }, {}},
      {"good ES256", [&] { return token(es_header, claims(), ec); }, {}},
      {"aud array containing",
       [&] { return token(rs_header, claims(R"(,"aud":["x","pop3"])"), rsa); },
       {}},
      {"expired", [&] { return token(rs_header, claims("", now_s - 61), rsa); }, jwt_errc::expired},
      {"expired within leeway", [&] { return token(rs_header, claims("", now_s - 59), rsa); }, {}},
      {"not yet valid",
       [&] { return token(rs_header, claims(R"(,"nbf":)" + std::to_string(now_s + 61)), rsa); },
       jwt_errc::not_yet_valid},
      {"nbf within leeway",
       [&] { return token(rs_header, claims(R"(,"nbf":)" + std::to_string(now_s + 59)), rsa); },
       {}},
      {"no exp",
       [&] {
         return token(rs_header, R"({"iss":"https://idp.example.com","aud":"pop3","email":"a"})",
                      rsa);
       },
       jwt_errc::no_expiry},
      {"exp a string", [&] { return token(rs_header, claims(R"(,"exp":"soon")"), rsa); },
       jwt_errc::bad_claims},
      {"wrong iss",
       [&] { return token(rs_header, claims(R"(,"iss":"https://evil.example.com")"), rsa); },
       jwt_errc::wrong_issuer},
      {"wrong aud", [&] { return token(rs_header, claims(R"(,"aud":"imap")"), rsa); },
       jwt_errc::wrong_audience},
      {"aud array without",
       [&] { return token(rs_header, claims(R"(,"aud":["imap","smtp"])"), rsa); },
       jwt_errc::wrong_audience},
      {"no user claim",
       [&] {
         return token(rs_header,
                      R"({"iss":"https://idp.example.com","aud":"pop3","exp":1900000000})", rsa);
       },
       jwt_errc::no_user_claim},
      {"user claim not a string",
       [&] { return token(rs_header, claims(R"(,"email":["alice"])"), rsa); },
       jwt_errc::no_user_claim},
      {"email verified",
       [&] { return token(rs_header, claims(R"(,"email_verified":true)"), rsa); },
       {}},
      {"email verified (string)",
       [&] { return token(rs_header, claims(R"(,"email_verified":"true")"), rsa); },
       {}},
      {"email not verified",
       [&] { return token(rs_header, claims(R"(,"email_verified":false)"), rsa); },
       jwt_errc::email_unverified},
      {"email not verified (string)",
       [&] { return token(rs_header, claims(R"(,"email_verified":"false")"), rsa); },
       jwt_errc::email_unverified},
      {"email_verified a number",
       [&] { return token(rs_header, claims(R"(,"email_verified":0)"), rsa); },
       jwt_errc::bad_claims},
      {"bad signature", [&] { return corrupt_signature(token(rs_header, claims(), rsa)); },
       jwt_errc::bad_signature},
      {"signed by another key", [&] { return token(rs_header, claims(), other_rsa_key().get()); },
       jwt_errc::bad_signature},
      {"claims changed after signing",
       [&] {
         std::string t = token(rs_header, claims(), rsa);
         std::size_t d1 = t.find('.'), d2 = t.rfind('.');
         return t.substr(0, d1 + 1) +
                base64url_encode(claims(R"(,"email":"mallory@example.com")")) + t.substr(d2);
       },
       jwt_errc::bad_signature},
      {"ES256 signature of wrong length",
       [&] {
         std::string input = base64url_encode(es_header) + "." + base64url_encode(claims());
         return input + "." + base64url_encode(std::string(63, 'x'));
       },
       jwt_errc::bad_signature},
      {"alg none",
       [&] {
         return base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(claims()) + ".";
       },
       jwt_errc::unsupported_alg},
      {"alg None with a signature",
       [&] {
         return base64url_encode(R"({"alg":"None"})") + "." + base64url_encode(claims()) + ".AAAA";
       },
       jwt_errc::unsupported_alg},
      {"HS256 with the RSA public key as secret",
       [&] {
         std::string input =
             base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(claims());
         return input + "." + base64url_encode(hs256(rsa_pem, input));
       },
       jwt_errc::unsupported_alg},
      {"RS384", [&] { return token(R"({"alg":"RS384"})", claims(), rsa); },
       jwt_errc::unsupported_alg},
      {"no alg", [&] { return token(R"({"typ":"JWT"})", claims(), rsa); },
       jwt_errc::unsupported_alg},
      {"RS256 header on an EC signature", [&] { return token(rs_header, claims(), ec); },
       jwt_errc::bad_signature},
      {"crit header", [&] { return token(R"({"alg":"RS256","crit":["exp"]})", claims(), rsa); },
       jwt_errc::critical_header},
      {"padding in a part",
       [&] {
         std::string t = token(rs_header, claims(), rsa);
         return t.insert(t.find('.'), "=");
       },
       jwt_errc::bad_base64},
      {"whitespace in a part",
       [&] {
         std::string t = token(rs_header, claims(), rsa);
         return t.insert(5, " ");
       },
       jwt_errc::bad_base64},
      {"standard base64 alphabet",
       [&] { return "eyJh+GciOiJSUzI1NiJ9." + base64url_encode(claims()) + ".AAAA"; },
       jwt_errc::bad_base64},
      {"header not JSON",
       [&] { return base64url_encode("{\"alg\":") + "." + base64url_encode(claims()) + ".AA"; },
       jwt_errc::bad_json},
      {"header a JSON array",
       [&] { return base64url_encode("[1]") + "." + base64url_encode(claims()) + ".AA"; },
       jwt_errc::bad_json},
      {"claims not JSON (signed)", [&] { return token(rs_header, "{\"iss\":", rsa); },
       jwt_errc::bad_json},
      {"two parts", [&] { return base64url_encode(rs_header) + "." + base64url_encode(claims()); },
       jwt_errc::malformed},
      {"four parts", [&] { return token(rs_header, claims(), rsa) + ".AA"; }, jwt_errc::malformed},
      {"empty header", [&] { return ".e30.AA"; }, jwt_errc::malformed},
      {"empty", [&] { return std::string(); }, jwt_errc::malformed},
      {"huge token",
       [&] {
         return token(rs_header, claims(R"(,"pad":")" + std::string(100'000, 'x') + "\""), rsa);
       },
       jwt_errc::too_large},
  };
  OAuthValidator v = pem_validator();
  for (const auto& c : cases) {
    std::string user;
    std::error_code ec = v.validate(c.make(), now, user);
    EXPECT_EQ(ec, c.want) << c.name << ": " << ec.message();
    if (!c.want) {
      EXPECT_EQ(user, "alice@example.com") << c.name;
    }
  }
}

TEST(Jwt, JwksKeysAreMatchedByKid) {
  OAuthValidator v(policy(), parse_jwks(jwks(), "jwks.json"));
  EXPECT_EQ(v.key_count(), 2u);  // the "oct" key is never used
  EVP_PKEY* rsa = rsa_key().get();
  EVP_PKEY* ec = ec_key().get();
  const Case cases[] = {
      {"RSA kid", [&] { return token(R"({"alg":"RS256","kid":"rsa-1"})", claims(), rsa); }, {}},
      {"EC kid", [&] { return token(R"({"alg":"ES256","kid":"ec-1"})", claims(), ec); }, {}},
      {"no kid tries every key", [&] { return token(rs_header, claims(), rsa); }, {}},
      {"kid mismatch", [&] { return token(R"({"alg":"RS256","kid":"rsa-2"})", claims(), rsa); },
       jwt_errc::no_key},
      {"kid of the other type",
       [&] { return token(R"({"alg":"RS256","kid":"ec-1"})", claims(), rsa); }, jwt_errc::no_key},
      {"kid not a string", [&] { return token(R"({"alg":"RS256","kid":7})", claims(), rsa); },
       jwt_errc::bad_json},
      {"right kid, wrong key",
       [&] { return token(R"({"alg":"RS256","kid":"rsa-1"})", claims(), other_rsa_key().get()); },
       jwt_errc::bad_signature},
      {"HS256 with the oct key",
       [&] {
         std::string input =
             base64url_encode(R"({"alg":"HS256"})") + "." + base64url_encode(claims());
         return input + "." + base64url_encode(hs256("secret", input));
       },
       jwt_errc::unsupported_alg},
  };
  for (const auto& c : cases) {
    std::string user;
    EXPECT_EQ(v.validate(c.make(), now, user), c.want) << c.name;
  }
}

TEST(Jwt, BrokenKeyFilesAreRefusedWithTheirName) {
  auto throws_with = [](const std::function<void()>& f, const std::string& want) {
    try {
      f();
      ADD_FAILURE() << "no exception, wanted " << want;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  };
  throws_with([] { parse_pem_keys("not a key", "/etc/idp.pem"); },
              "/etc/idp.pem: no PEM public key");
  auto small = std::shared_ptr<EVP_PKEY>(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024)), PkeyFree{});
  throws_with([&] { parse_pem_keys(public_pem(small.get()), "small.pem"); }, "too small");
  auto p384 =
      std::shared_ptr<EVP_PKEY>(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"), PkeyFree{});
  throws_with([&] { parse_pem_keys(public_pem(p384.get()), "p384.pem"); }, "not on P-256");
  throws_with([] { parse_jwks("{", "j.json"); }, "j.json: not a JSON object");
  throws_with([] { parse_jwks(R"({"keys":[{"kty":"oct","k":"AA"}]})", "j.json"); },
              "no RS256 or ES256");
  throws_with([] { parse_jwks(R"({"keys":[{"kty":"RSA","n":"A=","e":"AQAB"}]})", "j.json"); },
              "'n' is not base64url");
  throws_with(
      [] {
        parse_jwks(R"({"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]})", "j.json");
      },
      "32 bytes");
  // A point that is not on the curve.
  std::string zero32 = base64url_encode(std::string(32, '\0'));
  std::string one32 = base64url_encode(std::string(31, '\0') + "\x01");
  throws_with(
      [&] {
        parse_jwks(R"({"keys":[{"kty":"EC","crv":"P-256","x":")" + zero32 + R"(","y":")" + one32 +
                       R"("}]})",
                   "j.json");
      },
      "j.json");
  throws_with([] { load_keys({"/nonexistent/idp.pem"}, {}); }, "/nonexistent/idp.pem");
}

TEST(Jwt, Base64urlIsStrict) {
  EXPECT_EQ(base64url_decode("YWI"), "ab");
  EXPECT_EQ(base64url_decode(""), "");
  EXPECT_FALSE(base64url_decode("YWI="));
  EXPECT_FALSE(base64url_decode("YW I"));
  EXPECT_FALSE(base64url_decode("YW+I"));
  EXPECT_FALSE(base64url_decode("YWJ"));  // stray bits: "ab" is YWI
  EXPECT_FALSE(base64url_decode("Y"));
  // Bytes outside the alphabet, which libsodium alone lets through.
  EXPECT_FALSE(base64url_decode("ZW1haWw\xfe\xff\xff\xffhbGw"));
  EXPECT_FALSE(base64url_decode("YWI\x80"));
}

TEST(Jwt, EmailVerifiedMattersOnlyWhenTheEmailNamesTheUser) {
  OAuthPolicy p{"https://idp.example.com", "pop3", "preferred_username"};
  const std::string c =
      R"({"iss":"https://idp.example.com","aud":"pop3","preferred_username":"alice",)"
      R"("email_verified":false,"exp":)" +
      std::to_string(now_s + 600) + "}";
  std::string user;
  EXPECT_FALSE(check_claims(c, p, now, user));
  EXPECT_EQ(user, "alice");
  p.user_claim = "email";
  EXPECT_EQ(check_claims(R"({"iss":"https://idp.example.com","aud":"pop3","email":"a@b",)"
                         R"("email_verified":false,"exp":)" +
                             std::to_string(now_s + 600) + "}",
                         p, now, user),
            std::error_code(jwt_errc::email_unverified));
}

TEST(Jwt, ErrorsHaveLogMessagesWithoutTheToken) {
  std::error_code ec = jwt_errc::expired;
  EXPECT_EQ(ec.message(), "token expired");
  EXPECT_STREQ(ec.category().name(), "jwt");
}
