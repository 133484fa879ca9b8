#include "net/tls_context.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdexcept>

namespace popbox::net {
namespace {

[[noreturn]] void fail(std::string_view what, const std::filesystem::path& file) {
  unsigned long err = ERR_get_error();
  char reason[256] = "unknown error";
  if (err) ERR_error_string_n(err, reason, sizeof reason);
  ERR_clear_error();
  throw std::runtime_error(fmt::format("TLS: {} '{}': {}", what, file.string(), reason));
}

}  // namespace

std::shared_ptr<asio::ssl::context> make_tls_context(const config::TlsConfig& tls) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* raw = ctx->native_handle();
  SSL_CTX_set_min_proto_version(raw, tls.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(
      raw, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(raw, tls.cert.c_str()) != 1) {
    fail("cannot load certificate", tls.cert);
  }
  if (SSL_CTX_use_PrivateKey_file(raw, tls.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    fail("cannot load private key", tls.key);
  }
  if (SSL_CTX_check_private_key(raw) != 1) fail("key does not match certificate", tls.key);
  return ctx;
}

}  // namespace popbox::net
