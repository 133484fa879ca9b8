#include "auth/password_scheme.hpp"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "auth/scram.hpp"

namespace popbox::auth {
namespace {

// libsodium must be initialised once before use; sodium_init() is itself
// thread-safe and idempotent, the static just avoids calling it every time.
void ensure_sodium() {
  static const bool ok = sodium_init() >= 0;
  // Without a working RNG nothing here is safe to continue with.
  if (!ok) std::abort();
}

/// Overwrites a string holding secret bytes, then empties it.
void wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

/// Wipes a string holding secret bytes when it goes out of scope. It refers
/// to the string rather than owning it: moving short strings copies their
/// bytes, and the copy left behind would escape the wipe.
class WipeOnExit {
 public:
  explicit WipeOnExit(std::string& s) : s_(s) {}
  ~WipeOnExit() { wipe(s_); }
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;

 private:
  std::string& s_;
};

enum class Kind { plain, crypt, argon2, digest, salted, md5_auto, scram };
enum class Encoding { none, base64, hex };

struct Scheme {
  std::string_view name;
  Kind kind;
  Encoding encoding;      ///< Dovecot's default encoding for the scheme
  const EVP_MD* (*md)();  ///< digest kinds only
  std::size_t raw_len;    ///< fixed decoded length, 0 if it varies
};

// Names and default encodings as Dovecot's password-scheme.c defines them.
const Scheme schemes[] = {
    {"PLAIN", Kind::plain, Encoding::none, nullptr, 0},
    {"CLEAR", Kind::plain, Encoding::none, nullptr, 0},
    {"CLEARTEXT", Kind::plain, Encoding::none, nullptr, 0},
    {"CRYPT", Kind::crypt, Encoding::none, nullptr, 0},
    {"DES-CRYPT", Kind::crypt, Encoding::none, nullptr, 0},
    {"MD5-CRYPT", Kind::crypt, Encoding::none, nullptr, 0},
    {"SHA256-CRYPT", Kind::crypt, Encoding::none, nullptr, 0},
    {"SHA512-CRYPT", Kind::crypt, Encoding::none, nullptr, 0},
    {"BLF-CRYPT", Kind::crypt, Encoding::none, nullptr, 0},
    {"MD5", Kind::md5_auto, Encoding::none, EVP_md5, 0},
    {"ARGON2I", Kind::argon2, Encoding::none, nullptr, 0},
    {"ARGON2ID", Kind::argon2, Encoding::none, nullptr, 0},
    {"SHA", Kind::digest, Encoding::base64, EVP_sha1, 20},
    {"SHA1", Kind::digest, Encoding::base64, EVP_sha1, 20},
    {"SHA256", Kind::digest, Encoding::base64, EVP_sha256, 32},
    {"SHA512", Kind::digest, Encoding::base64, EVP_sha512, 64},
    {"PLAIN-MD5", Kind::digest, Encoding::hex, EVP_md5, 16},
    {"LDAP-MD5", Kind::digest, Encoding::base64, EVP_md5, 16},
    {"SMD5", Kind::salted, Encoding::base64, EVP_md5, 0},
    {"SSHA", Kind::salted, Encoding::base64, EVP_sha1, 0},
    {"SSHA256", Kind::salted, Encoding::base64, EVP_sha256, 0},
    {"SSHA512", Kind::salted, Encoding::base64, EVP_sha512, 0},
    {"SCRAM-SHA-256", Kind::scram, Encoding::none, nullptr, 0},
};

// Verifying an unknown user against a cheap scheme: any fixed value will do,
// the digest costs microseconds whatever the scheme.
constexpr std::string_view fast_dummy =
    "{SSHA512}X6/j392hqnfTZIQhyyK6/mNJ/a62/f9fV3CTlkD37kRMNgo5IHBteCmqhdiBZO42lZrLoyBpvSl6gQv8GYaU+"
    "bLZGWQ=";

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

struct Lookup {
  const Scheme* scheme = nullptr;
  Encoding encoding = Encoding::none;
  bool explicit_encoding = false;
};

/// Finds a scheme name, with an optional ".b64"/".base64"/".hex" suffix.
Lookup lookup_scheme(std::string_view name) {
  Lookup r;
  std::string full = upper(name);
  std::string_view base = full;
  std::string_view suffix;
  if (auto dot = base.find('.'); dot != std::string_view::npos) {
    suffix = base.substr(dot + 1);
    base = base.substr(0, dot);
  }
  for (const Scheme& s : schemes) {
    if (s.name == base) r.scheme = &s;
  }
  if (r.scheme == nullptr) return r;
  r.encoding = r.scheme->encoding;
  if (suffix.data() != nullptr) {
    r.explicit_encoding = true;
    if (suffix == "B64" || suffix == "BASE64") {
      r.encoding = Encoding::base64;
    } else if (suffix == "HEX") {
      r.encoding = Encoding::hex;
    } else {
      r.scheme = nullptr;  // Dovecot treats an unknown encoding as an unknown scheme
    }
  }
  return r;
}

std::optional<std::string> hex_decode(std::string_view in) {
  if (in.size() % 2 != 0) return std::nullopt;
  std::string out(in.size() / 2, '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(), in.size(),
                     nullptr, &len, &end) != 0 ||
      end != in.data() + in.size()) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

/// Standard base64 with padding: Dovecot rejects unpadded input too.
std::optional<std::string> base64_decode(std::string_view in) {
  std::string out(in.size() * 3 / 4 + 3, '\0');
  std::size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(),
                        in.size(), nullptr, &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

/// Turns the data part into raw bytes the way Dovecot's password_decode()
/// does: for fixed-length digests without an explicit suffix the encoding is
/// guessed from the length, since both hex and base64 occur in the wild.
std::optional<std::string> decode(std::string_view data, const Lookup& l) {
  const std::size_t raw_len = l.scheme->raw_len;
  Encoding enc = l.encoding;
  bool guessed = false;
  if (enc != Encoding::none && raw_len != 0 && !l.explicit_encoding) {
    enc = data.size() == raw_len * 2 ? Encoding::hex : Encoding::base64;
    guessed = true;
  }
  std::optional<std::string> raw;
  switch (enc) {
    case Encoding::none:
      raw = std::string(data);
      break;
    case Encoding::hex:
      raw = hex_decode(data);
      if (!raw && guessed) raw = base64_decode(data);
      break;
    case Encoding::base64:
      raw = base64_decode(data);
      break;
  }
  if (raw && raw_len != 0 && raw->size() != raw_len) return std::nullopt;
  return raw;
}

/// Digest of the concatenated parts; empty on an OpenSSL failure.
std::string digest(const EVP_MD* md, std::string_view a, std::string_view b = {}) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned len = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), a.data(), a.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), b.data(), b.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1) {
    return {};
  }
  std::string r(reinterpret_cast<const char*>(out.data()), len);
  OPENSSL_cleanse(out.data(), out.size());
  return r;
}

bool equal_ct(std::string_view a, std::string_view b) {
  return a.size() == b.size() && !a.empty() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

/// crypt(3) with the stored hash as setting. crypt_data lives on the heap per
/// call: it is 32 KiB and must not be shared between threads.
std::optional<std::string> run_crypt(std::string_view password, std::string_view setting) {
  // C strings: a NUL would silently truncate the password ("a\0b" == "a").
  if (setting.empty() || password.find('\0') != std::string_view::npos ||
      setting.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  std::string pw(password);
  const WipeOnExit wipe_pw(pw);
  const std::string set(setting);
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_r(pw.c_str(), set.c_str(), data.get());
  std::optional<std::string> r;
  // libxcrypt signals an unusable setting with a "*0"/"*1" failure token.
  if (out != nullptr && out[0] != '*' && out[0] != '\0') r = std::string(out);
  sodium_memzero(data.get(), sizeof *data);
  return r;
}

bool verify_crypt(std::string_view hash, std::string_view password) {
  auto out = run_crypt(password, hash);
  return out && equal_ct(*out, hash);
}

bool verify_argon2(std::string_view hash, std::string_view password) {
  // libsodium reads a NUL-terminated string of at most STRBYTES.
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES ||
      hash.find('\0') != std::string_view::npos) {
    return false;
  }
  std::array<char, crypto_pwhash_STRBYTES> buf{};
  std::copy(hash.begin(), hash.end(), buf.begin());
  // crypto_pwhash_str_verify dispatches on the prefix: $argon2i$ and $argon2id$.
  return crypto_pwhash_str_verify(buf.data(), password.empty() ? "" : password.data(),
                                  password.size()) == 0;
}

bool verify_digest(const EVP_MD* md, std::string_view raw, std::string_view password) {
  const std::string d = digest(md, password);
  return equal_ct(d, raw);
}

bool verify_salted(const EVP_MD* md, std::string_view raw, std::string_view password) {
  const auto md_len = static_cast<std::size_t>(EVP_MD_get_size(md));
  if (raw.size() <= md_len) return false;  // no salt: not something Dovecot writes
  const std::string d = digest(md, password, raw.substr(md_len));
  return equal_ct(d, raw.substr(0, md_len));
}

std::string random_hex(std::size_t bytes) {
  ensure_sodium();
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  std::string hex(bytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(raw.data()),
                 raw.size());
  hex.pop_back();
  return hex;
}

/// The part of an Argon2 string before the salt: "$argon2id$v=19$m=...,t=...,p=...".
std::string_view argon2_params(std::string_view hash) {
  std::size_t pos = 0;
  for (int i = 0; i < 3; ++i) {
    pos = hash.find('$', pos + 1);
    if (pos == std::string_view::npos) return hash;
  }
  return hash.substr(0, pos);
}

std::optional<unsigned long long> param(std::string_view params, std::string_view key) {
  auto at = params.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  const char* first = params.data() + at + key.size();
  unsigned long long v = 0;
  auto [p, ec] = std::from_chars(first, params.data() + params.size(), v);
  if (ec != std::errc{} || p == first) return std::nullopt;
  return v;
}

}  // namespace

StoredPassword split_scheme(std::string_view stored) {
  if (!stored.empty() && stored.front() == '{') {
    if (auto close = stored.find('}'); close != std::string_view::npos) {
      return {upper(stored.substr(1, close - 1)), stored.substr(close + 1)};
    }
  }
  return {"CRYPT", stored};
}

bool scheme_supported(std::string_view scheme) {
  return lookup_scheme(scheme).scheme != nullptr;
}

bool verify_password(std::string_view stored, std::string_view password) {
  ensure_sodium();
  const StoredPassword sp = split_scheme(stored);
  const Lookup l = lookup_scheme(sp.scheme);
  if (l.scheme == nullptr || sp.data.empty()) return false;
  auto raw = decode(sp.data, l);
  if (!raw || raw->empty()) return false;
  const WipeOnExit wipe_raw(*raw);  // may be a clear-text password
  const std::string_view r = *raw;
  switch (l.scheme->kind) {
    case Kind::plain: {
      // Compare digests so the time does not depend on where the strings differ
      // nor on the stored password's length.
      const std::string a = digest(EVP_sha256(), password), b = digest(EVP_sha256(), r);
      return equal_ct(a, b);
    }
    case Kind::crypt:
      return verify_crypt(r, password);
    case Kind::argon2:
      return verify_argon2(r, password);
    case Kind::digest:
      return verify_digest(l.scheme->md(), r, password);
    case Kind::salted:
      return verify_salted(l.scheme->md(), r, password);
    case Kind::md5_auto: {
      // Dovecot's "MD5" is MD5-CRYPT when it looks like one, else PLAIN-MD5.
      if (r.starts_with("$1$")) return verify_crypt(r, password);
      auto md5 = decode(r, lookup_scheme("PLAIN-MD5"));
      return md5 && verify_digest(EVP_md5(), *md5, password);
    }
    case Kind::scram: {
      auto secret = parse_scram_secret(r);
      const bool ok = secret && verify_scram_password(*secret, password);
      if (secret) wipe(*secret);
      return ok;
    }
  }
  return false;
}

std::string hash_password(std::string_view password) {
  ensure_sodium();
  std::array<char, crypto_pwhash_STRBYTES> out{};
  if (crypto_pwhash_str_alg(out.data(), password.empty() ? "" : password.data(), password.size(),
                            crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw std::runtime_error("argon2id hashing failed (out of memory?)");
  }
  return "{ARGON2ID}" + std::string(out.data());
}

std::string hash_password(std::string_view password, std::string_view scheme) {
  const std::string name = upper(scheme);
  if (name == "ARGON2ID") return hash_password(password);
  if (name == scram_scheme) return make_scram_secret(password);
  throw std::invalid_argument("unsupported scheme " + std::string(scheme) +
                              " (use ARGON2ID or SCRAM-SHA-256)");
}

std::optional<std::string> plaintext_password(std::string_view stored) {
  const StoredPassword sp = split_scheme(stored);
  const Lookup l = lookup_scheme(sp.scheme);
  if (l.scheme == nullptr || l.scheme->kind != Kind::plain || sp.data.empty()) return std::nullopt;
  std::optional<std::string> raw = decode(sp.data, l);
  if (!raw || raw->empty()) return std::nullopt;
  return std::optional<std::string>(std::move(*raw));
}

bool verify_apop_digest(std::string_view plaintext, std::string_view timestamp,
                        std::string_view digest_hex) {
  if (plaintext.empty() || digest_hex.size() != 32) return false;
  auto given = hex_decode(digest_hex);  // sodium_hex2bin accepts either case
  const std::string expected = digest(EVP_md5(), timestamp, plaintext);
  return given && equal_ct(expected, *given);
}

std::string cost_class(std::string_view stored) {
  const StoredPassword sp = split_scheme(stored);
  const Lookup l = lookup_scheme(sp.scheme);
  if (l.scheme == nullptr) return "unknown";
  const std::string_view d = sp.data;
  const bool crypt =
      l.scheme->kind == Kind::crypt || (l.scheme->kind == Kind::md5_auto && d.starts_with("$1$"));
  if (crypt) {
    // The algorithm id plus whatever sets the work factor.
    if (d.starts_with("$2") && d.size() >= 7) return "crypt:" + std::string(d.substr(0, 7));
    if (d.starts_with("$5$rounds=") || d.starts_with("$6$rounds=")) {
      return "crypt:" + std::string(d.substr(0, d.find('$', 3)));
    }
    if (d.starts_with("$")) return "crypt:" + std::string(d.substr(0, d.find('$', 1) + 1));
    return "crypt:des";
  }
  if (l.scheme->kind == Kind::argon2) return "argon2:" + std::string(argon2_params(d));
  if (l.scheme->kind == Kind::scram) {
    auto secret = parse_scram_secret(d);
    return secret ? "scram:" + std::to_string(secret->iterations) : "fast";
  }
  return "fast";
}

std::string dummy_hash_like(std::string_view stored) {
  const StoredPassword sp = split_scheme(stored);
  const Lookup l = lookup_scheme(sp.scheme);
  if (l.scheme == nullptr || l.explicit_encoding) return std::string(fast_dummy);
  const std::string_view d = sp.data;
  if (l.scheme->kind == Kind::crypt || (l.scheme->kind == Kind::md5_auto && d.starts_with("$1$"))) {
    // A full hash is a valid crypt setting: same algorithm, salt and rounds.
    if (auto out = run_crypt(random_hex(16), d)) return "{CRYPT}" + *out;
    return std::string(fast_dummy);
  }
  if (l.scheme->kind == Kind::scram) {
    // Same iteration count: PBKDF2 costs what the real user's check costs.
    if (auto secret = parse_scram_secret(d)) {
      if (auto dummy = derive_scram_secret(random_hex(16), random_hex(8), secret->iterations)) {
        return format_scram_secret(*dummy);
      }
    }
    return std::string(fast_dummy);
  }
  if (l.scheme->kind == Kind::argon2) {
    const std::string_view params = argon2_params(d);
    const auto m = param(params, "m="), t = param(params, ",t=");
    const int alg =
        d.starts_with("$argon2id$") ? crypto_pwhash_ALG_ARGON2ID13 : crypto_pwhash_ALG_ARGON2I13;
    if (m && t && *m <= SIZE_MAX / 1024) {
      const std::string pw = random_hex(16);
      std::array<char, crypto_pwhash_STRBYTES> out{};
      if (crypto_pwhash_str_alg(out.data(), pw.data(), pw.size(), *t,
                                static_cast<std::size_t>(*m * 1024), alg) == 0) {
        return (alg == crypto_pwhash_ALG_ARGON2ID13 ? "{ARGON2ID}" : "{ARGON2I}") +
               std::string(out.data());
      }
    }
  }
  return std::string(fast_dummy);
}

}  // namespace popbox::auth
