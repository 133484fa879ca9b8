#include "sandbox/self_signed.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <utility>

namespace popbox::sandbox {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  throw std::runtime_error("sandbox certificate: " + what + ": " + buf);
}

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};

using File = std::unique_ptr<FILE, FileCloser>;
/// Opens where a PEM goes: a file path with its mode.
using Opener = File (*)(const std::string& path, mode_t mode);

// Opens `path` for writing with `mode`, replacing an older file.
File create(const std::string& path, mode_t mode) {
  ::unlink(path.c_str());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) throw std::runtime_error("sandbox certificate: cannot create " + path);
  FILE* f = ::fdopen(fd, "w");
  if (f == nullptr) {
    ::close(fd);
    throw std::runtime_error("sandbox certificate: cannot open " + path);
  }
  return std::unique_ptr<FILE, FileCloser>(f);
}

std::string host_name() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) return "";
  std::string h(host);
  for (char c : h) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) return "";
  }
  return h == "localhost" ? "" : h;
}

// Opens the memory file `path` names (/proc/self/fd/N, made by memfd_path).
File open_memory(const std::string& path, mode_t) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::runtime_error("sandbox certificate: cannot open " + path);
  return File(f);
}

// A file that lives in memory only, open (on purpose) until the process
// ends, named so that any reader (OpenSSL, net::Server's reload) opens it.
std::string memfd_path(const char* name) {
  int fd = ::memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) throw std::runtime_error("sandbox certificate: memfd_create failed");
  return "/proc/self/fd/" + std::to_string(fd);
}

void make(const CertificatePaths& paths, Opener open) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
  if (!key) fail("EC key generation");
  std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), &X509_free);
  if (!x) fail("X509_new");
  X509_set_version(x.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) fail("RAND_bytes");
  serial[0] &= 0x7f;
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(BN_bin2bn(serial, sizeof serial, nullptr),
                                                 &BN_free);
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x.get()))) fail("serial");
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 60L * 60 * 24 * 730);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("popbox sandbox"), -1, -1, 0);
  X509_set_issuer_name(x.get(), name);
  if (X509_set_pubkey(x.get(), key.get()) != 1) fail("set public key");
  std::string san = "IP:127.0.0.1,IP:::1,DNS:localhost";
  if (std::string h = host_name(); !h.empty()) san += ",DNS:" + h;
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x.get(), x.get(), nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, san.c_str()},
                            std::pair{NID_basic_constraints, "critical,CA:FALSE"},
                            std::pair{NID_ext_key_usage, "serverAuth"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext == nullptr || X509_add_ext(x.get(), ext, -1) != 1) fail("extension");
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(x.get(), key.get(), EVP_sha256()) == 0) fail("signing");
  {
    auto f = open(paths.key, 0600);
    if (PEM_write_PrivateKey(f.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
      fail("writing " + paths.key);
    }
  }
  auto f = open(paths.cert, 0644);
  if (PEM_write_X509(f.get(), x.get()) != 1) fail("writing " + paths.cert);
}

}  // namespace

CertificatePaths ensure_certificate(const std::string& dir) {
  CertificatePaths paths{(fs::path(dir) / "sandbox-cert.pem").string(),
                         (fs::path(dir) / "sandbox-key.pem").string()};
  std::error_code ec;
  if (fs::exists(paths.cert, ec) && fs::exists(paths.key, ec)) return paths;
  make(paths, &create);
  return paths;
}

CertificatePaths memory_certificate() {
  CertificatePaths paths{memfd_path("sandbox-cert.pem"), memfd_path("sandbox-key.pem")};
  make(paths, &open_memory);
  return paths;
}

}  // namespace popbox::sandbox
