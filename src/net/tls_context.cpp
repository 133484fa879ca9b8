#include "net/tls_context.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace popbox::net {
namespace {

[[noreturn]] void fail(std::string_view what, const std::filesystem::path& file) {
  unsigned long err = ERR_get_error();
  char reason[256] = "unknown error";
  if (err) ERR_error_string_n(err, reason, sizeof reason);
  ERR_clear_error();
  throw std::runtime_error(fmt::format("TLS: {} '{}': {}", what, file.string(), reason));
}

// TLS 1.2: forward-secret AEAD suites only (ECDHE with AES-GCM or
// ChaCha20-Poly1305): no CBC (Lucky13, POODLE-style padding oracles), no
// RSA key exchange (no forward secrecy, ROBOT), no finite-field DHE
// (Raccoon, weak server groups). Strongest first: the server's order wins.
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";
// TLS 1.3: every suite of RFC 8446 that OpenSSL enables by default.
constexpr const char* tls13_suites =
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";
// The one ALPN protocol popbox speaks, in wire form (length-prefixed).
constexpr unsigned char alpn_pop3[] = {4, 'p', 'o', 'p', '3'};

// RFC 8314 7 / ALPACA: a client that offers ALPN gets "pop3" or a fatal
// no_application_protocol alert, so a TLS connection meant for another
// protocol (HTTPS, IMAP) can never be answered by this POP3 server.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, alpn_pop3, sizeof alpn_pop3, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // OpenSSL sends no_application_protocol
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

std::shared_ptr<asio::ssl::context> make_tls_context(const config::TlsConfig& tls) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* raw = ctx->native_handle();
  SSL_CTX_set_min_proto_version(raw, tls.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(
      raw, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_clear_options(raw, SSL_OP_NO_TICKET);  // session tickets on (resumption)
  // Tickets carry the session: no server-side cache (a lock shared by the
  // event threads and up to 20,000 remembered sessions), and one TLS 1.3
  // ticket per handshake instead of two (a POP3 client reconnects serially).
  SSL_CTX_set_session_cache_mode(raw, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(raw, 1);
  // An idle session gives its record buffers (about 34 KB) back to the heap.
  SSL_CTX_set_mode(raw, SSL_MODE_RELEASE_BUFFERS);
  ERR_clear_error();
  if (SSL_CTX_set_cipher_list(raw, tls12_ciphers) != 1 ||
      SSL_CTX_set_ciphersuites(raw, tls13_suites) != 1) {
    fail("cannot set the cipher suites for", tls.cert);
  }
  SSL_CTX_set_alpn_select_cb(raw, select_alpn, nullptr);
  // OpenSSL keeps one certificate per key type and picks, per handshake,
  // the one the client can verify (ECDSA first: it signs ~15x faster than
  // RSA-2048 here, see docs/performance.md).
  std::vector<int> types;
  for (std::size_t i = 0; i < tls.certs.size(); ++i) {
    const auto& cert = tls.certs[i];
    const auto& key = tls.keys[i];
    if (SSL_CTX_use_certificate_chain_file(raw, cert.c_str()) != 1) {
      fail("cannot load certificate", cert);
    }
    if (SSL_CTX_use_PrivateKey_file(raw, key.c_str(), SSL_FILETYPE_PEM) != 1) {
      fail("cannot load private key", key);
    }
    if (SSL_CTX_check_private_key(raw) != 1) fail("key does not match certificate", key);
    const int type = EVP_PKEY_get_base_id(SSL_CTX_get0_privatekey(raw));
    if (std::find(types.begin(), types.end(), type) != types.end()) {
      throw std::runtime_error(
          fmt::format("TLS: '{}' has the same key type as an earlier certificate (one per type: "
                      "ECDSA, RSA, ...)",
                      cert.string()));
    }
    types.push_back(type);
  }
  return ctx;
}

}  // namespace popbox::net
