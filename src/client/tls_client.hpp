#pragma once
// TLS for the fetch client: a context that verifies the server (TLS 1.2+,
// chain against ca_file or the system store, host name, SNI), readable
// reasons when verification fails, and the optional public-key pin.

#include <openssl/ssl.h>

#include <asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <system_error>

#include "client/error.hpp"
#include "client/fetch_config.hpp"

namespace popbox::client {

/// The context for one account. With a pin and no ca_file the pin alone
/// decides trust (self-signed servers); otherwise the chain and the host
/// name are verified, and a pin must match as well.
std::shared_ptr<asio::ssl::context> make_client_tls_context(const AccountConfig& account,
                                                            Failure& failure);
/// Sets SNI and the expected host name (or IP address) on a connection.
Failure prepare_tls(SSL* ssl, const AccountConfig& account);
/// Explains a failed handshake: the certificate verification result when
/// there is one ("certificate has expired", "Hostname mismatch", ...).
Failure tls_handshake_failure(SSL* ssl, const std::error_code& ec, const AccountConfig& account);
/// Checks the server's key against the pin (if any) after the handshake.
Failure check_pin(SSL* ssl, const AccountConfig& account);
/// base64 of SHA-256 over the DER SubjectPublicKeyInfo of `cert`.
std::string public_key_pin(X509* cert);

}  // namespace popbox::client
