// Client-side TLS verification.
#include "client/tls_client.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <asio/ssl.hpp>

#include "core/base64.hpp"

namespace popbox::client {
namespace {

bool is_ip_literal(const std::string& host) {
  asio::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string openssl_reason() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

bool pin_only(const AccountConfig& a) {
  return !a.fingerprint.empty() && a.ca_file.empty();
}

}  // namespace

std::shared_ptr<asio::ssl::context> make_client_tls_context(const AccountConfig& a,
                                                            Failure& failure) {
  failure = {};
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (pin_only(a)) {
    // Trust comes from the pin, checked right after the handshake.
    SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
    return ctx;
  }
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  int ok = a.ca_file.empty() ? SSL_CTX_set_default_verify_paths(native)
                             : SSL_CTX_load_verify_locations(native, a.ca_file.c_str(), nullptr);
  if (ok != 1) {
    failure =
        fail(fetch_errc::config,
             fmt::format("cannot load CA certificates from {}: {}",
                         a.ca_file.empty() ? "the system store" : a.ca_file, openssl_reason()));
    return nullptr;
  }
  return ctx;
}

Failure prepare_tls(SSL* ssl, const AccountConfig& a) {
  bool ip = is_ip_literal(a.host);
  // RFC 6066: SNI carries host names only, never address literals.
  if (!ip && SSL_set_tlsext_host_name(ssl, a.host.c_str()) != 1) {
    return fail(fetch_errc::tls, fmt::format("cannot set SNI to {}", a.host));
  }
  if (pin_only(a)) return {};
  int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), a.host.c_str())
              : SSL_set1_host(ssl, a.host.c_str());
  if (ok != 1) return fail(fetch_errc::tls, fmt::format("cannot check the name {}", a.host));
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return {};
}

Failure tls_handshake_failure(SSL* ssl, const std::error_code& ec, const AccountConfig& a) {
  long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK && !pin_only(a)) {
    std::string reason = X509_verify_cert_error_string(verify);
    std::string hint;
    if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      hint = fmt::format(" (the certificate is not valid for {})", a.host);
    } else if (verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
               verify == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
               verify == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN) {
      hint = a.ca_file.empty() ? " (unknown CA: set ca_file, or pin the key with fingerprint)"
                               : fmt::format(" (unknown CA: not signed by {})", a.ca_file);
    }
    return fail(fetch_errc::tls, fmt::format("TLS: certificate verification failed for {}:{}: "
                                             "{}{}",
                                             a.host, a.port, reason, hint));
  }
  return fail(fetch_errc::tls,
              fmt::format("TLS handshake with {}:{} failed: {}", a.host, a.port, ec.message()));
}

std::string public_key_pin(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(X509_get0_pubkey(cert), &der);
  if (len <= 0) return {};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_Digest(der, static_cast<std::size_t>(len), md, &md_len, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  return core::base64_encode(std::string_view(reinterpret_cast<char*>(md), md_len));
}

Failure check_pin(SSL* ssl, const AccountConfig& a) {
  if (a.fingerprint.empty()) return {};
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return fail(fetch_errc::tls, "TLS: the server sent no certificate");
  std::string pin = public_key_pin(cert);
  X509_free(cert);
  if (pin != a.fingerprint) {
    return fail(fetch_errc::tls,
                fmt::format("TLS: the public key of {}:{} does not match the pinned fingerprint "
                            "(server key: sha256:{}, pinned: sha256:{})",
                            a.host, a.port, pin, a.fingerprint));
  }
  return {};
}

}  // namespace popbox::client
