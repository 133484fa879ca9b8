#pragma once
// The sandbox's TLS certificate: made on first start (EC P-256, SAN
// 127.0.0.1, ::1, localhost and the host name, valid ~2 years), kept in the
// data directory (key mode 0600), reused afterwards.

#include <string>

namespace popbox::sandbox {

struct CertificatePaths {
  std::string cert;  ///< PEM certificate
  std::string key;   ///< PEM private key, mode 0600
};

/// Returns the certificate and key under `dir`, making them first when
/// either is missing. Throws std::runtime_error with OpenSSL's reason.
CertificatePaths ensure_certificate(const std::string& dir);

/// A new certificate and key kept in memory files (--ephemeral: nothing on
/// disk), named by paths under /proc/self/fd that stay valid until exit.
/// Throws std::runtime_error like ensure_certificate().
CertificatePaths memory_certificate();

}  // namespace popbox::sandbox
