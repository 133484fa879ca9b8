#include "auth/scram_fake_secret.hpp"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/pem.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>

#include "core/limits.hpp"

namespace popbox::auth {
namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::runtime_error("cannot read " + path.string());
  return data;
}

// The private key in PEM file `path` as DER (the same key gives the same
// bytes whatever its PEM wrapping).
std::string key_der(const std::filesystem::path& path) {
  std::string pem = read_file(path);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr, EVP_PKEY_free);
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!key) throw std::runtime_error("cannot read a private key from " + path.string());
  unsigned char* der = nullptr;
  const int n = i2d_PrivateKey(key.get(), &der);
  if (n <= 0) throw std::runtime_error("cannot encode the private key of " + path.string());
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(n));
  OPENSSL_clear_free(der, static_cast<std::size_t>(n));
  return out;
}

}  // namespace

std::optional<std::string> load_scram_fake_secret(const std::filesystem::path& secret_file,
                                                  const std::filesystem::path& tls_key) {
  if (!secret_file.empty()) {
    std::string data = read_file(secret_file);
    if (data.size() < limits::scram_fake_secret_min_bytes) {
      throw std::runtime_error(secret_file.string() + " must hold at least " +
                               std::to_string(limits::scram_fake_secret_min_bytes) + " bytes");
    }
    return data;
  }
  if (!tls_key.empty()) return key_der(tls_key);
  return std::nullopt;
}

std::string derive_scram_fake_key(const std::string& material) {
  std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr),
                                                        EVP_KDF_free);
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(
      kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr, EVP_KDF_CTX_free);
  if (!ctx) throw std::runtime_error("HKDF is not available");
  static const char salt[] = "popbox";
  static const char info[] = "popbox scram fake salt v1";
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(material.data()),
                                        material.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt),
                                        sizeof(salt) - 1),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info),
                                        sizeof(info) - 1),
      OSSL_PARAM_construct_end()};
  std::string key(32, '\0');
  if (EVP_KDF_derive(ctx.get(), reinterpret_cast<unsigned char*>(key.data()), key.size(), params) !=
      1) {
    throw std::runtime_error("HKDF failed");
  }
  return key;
}

}  // namespace popbox::auth
