#include "auth/scram.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <charconv>
#include <stdexcept>

#include "core/base64.hpp"
#include "core/limits.hpp"

namespace popbox::auth {
namespace {

constexpr std::size_t key_size = 32;  // SHA-256

void cleanse(std::string& s) noexcept {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

std::string sha256(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1) return {};
  return std::string(reinterpret_cast<const char*>(out.data()), len);
}

/// Four comma-separated fields, the last running to the end.
std::optional<std::array<std::string_view, 4>> four_fields(std::string_view data) {
  std::array<std::string_view, 4> f;
  for (std::size_t i = 0; i < 3; ++i) {
    const std::size_t comma = data.find(',');
    if (comma == std::string_view::npos) return std::nullopt;
    f[i] = data.substr(0, comma);
    data.remove_prefix(comma + 1);
  }
  if (data.find(',') != std::string_view::npos) return std::nullopt;
  f[3] = data;
  return f;
}

}  // namespace

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(),
           &len) == nullptr) {
    return {};
  }
  std::string r(reinterpret_cast<const char*>(out.data()), len);
  OPENSSL_cleanse(out.data(), out.size());
  return r;
}

std::optional<ScramSecret> parse_scram_secret(std::string_view data) {
  auto f = four_fields(data);
  if (!f) return std::nullopt;
  ScramSecret s;
  const std::string_view it = (*f)[0];
  auto [p, ec] = std::from_chars(it.data(), it.data() + it.size(), s.iterations);
  if (ec != std::errc{} || p != it.data() + it.size() || s.iterations == 0 ||
      s.iterations > limits::max_scram_iterations) {
    return std::nullopt;
  }
  auto salt = core::base64_decode((*f)[1]);
  auto stored = core::base64_decode((*f)[2]);
  auto server = core::base64_decode((*f)[3]);
  if (!salt || salt->empty() || !stored || stored->size() != key_size || !server ||
      server->size() != key_size) {
    return std::nullopt;
  }
  s.salt = std::move(*salt);
  s.stored_key = std::move(*stored);
  s.server_key = std::move(*server);
  return s;
}

std::string format_scram_secret(const ScramSecret& s) {
  return "{" + std::string(scram_scheme) + "}" + std::to_string(s.iterations) + "," +
         core::base64_encode(s.salt) + "," + core::base64_encode(s.stored_key) + "," +
         core::base64_encode(s.server_key);
}

std::optional<ScramSecret> derive_scram_secret(std::string_view password, std::string_view salt,
                                               unsigned iterations) {
  if (iterations == 0 || iterations > limits::max_scram_iterations) return std::nullopt;
  std::string salted(key_size, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(salted.size()),
                        reinterpret_cast<unsigned char*>(salted.data())) != 1) {
    cleanse(salted);
    return std::nullopt;
  }
  std::string client_key = hmac_sha256(salted, "Client Key");
  ScramSecret s;
  s.iterations = iterations;
  s.salt = std::string(salt);
  s.stored_key = sha256(client_key);
  s.server_key = hmac_sha256(salted, "Server Key");
  cleanse(client_key);
  cleanse(salted);
  if (s.stored_key.size() != key_size || s.server_key.size() != key_size) return std::nullopt;
  return s;
}

std::string make_scram_secret(std::string_view password) {
  std::string salt(limits::scram_salt_bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), static_cast<int>(salt.size())) !=
      1) {
    throw std::runtime_error("cannot get random bytes for the SCRAM salt");
  }
  auto s = derive_scram_secret(password, salt, limits::scram_iterations);
  if (!s) throw std::runtime_error("SCRAM key derivation failed");
  std::string out = format_scram_secret(*s);
  wipe(*s);
  return out;
}

bool verify_scram_password(const ScramSecret& secret, std::string_view password) {
  auto d = derive_scram_secret(password, secret.salt, secret.iterations);
  if (!d) return false;
  // Both keys, so a secret with a tampered ServerKey does not verify either.
  const bool ok = secret.stored_key.size() == key_size && secret.server_key.size() == key_size &&
                  (CRYPTO_memcmp(d->stored_key.data(), secret.stored_key.data(), key_size) |
                   CRYPTO_memcmp(d->server_key.data(), secret.server_key.data(), key_size)) == 0;
  wipe(*d);
  return ok;
}

bool scram_proof_valid(const ScramSecret& secret, std::string_view auth_message,
                       std::string_view proof) {
  if (proof.size() != key_size || secret.stored_key.size() != key_size) return false;
  std::string client_key = hmac_sha256(secret.stored_key, auth_message);  // ClientSignature
  if (client_key.size() != key_size) return false;
  for (std::size_t i = 0; i < key_size; ++i) client_key[i] ^= proof[i];
  const std::string stored = sha256(client_key);
  cleanse(client_key);
  return stored.size() == key_size &&
         CRYPTO_memcmp(stored.data(), secret.stored_key.data(), key_size) == 0;
}

std::string scram_server_signature(const ScramSecret& secret, std::string_view auth_message) {
  return hmac_sha256(secret.server_key, auth_message);
}

std::string make_scram_nonce() {
  std::string raw(limits::scram_nonce_bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size())) != 1) {
    return {};
  }
  return core::base64_encode(raw);
}

void wipe(ScramSecret& secret) noexcept {
  cleanse(secret.salt);
  cleanse(secret.stored_key);
  cleanse(secret.server_key);
  secret.iterations = 0;
}

}  // namespace popbox::auth
