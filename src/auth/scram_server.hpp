#pragma once
// The server side of one SCRAM-SHA-256(-PLUS) exchange (RFC 5802 section 5,
// RFC 7677) as a pure state machine: messages in, messages and verdicts out.
// The caller does the user lookup (slow, off the event thread) between
// client_first() and server_first().

#include <string>
#include <string_view>

#include "auth/scram.hpp"
#include "auth/scram_message.hpp"

namespace popbox::auth {

/// The verdict on a client message.
enum class ScramStatus {
  ok,
  malformed,         ///< not RFC 5802 syntax
  extension,         ///< a mandatory or other extension: none is supported
  binding_refused,   ///< gs2 flag does not fit the mechanism or the link (downgrade)
  authzid_refused,   ///< authorization identity other than the user
  nonce_mismatch,    ///< client-final does not echo the combined nonce
  binding_mismatch,  ///< c= is not the gs2 header plus this link's binding data
  bad_proof,         ///< wrong password (or unknown user)
};

class ScramServer {
 public:
  ScramServer() = default;
  /// An exchange for SCRAM-SHA-256-PLUS when `plus`, on a link whose channel
  /// binding is `link` (empty when the link is not TLS).
  ScramServer(bool plus, ChannelBinding link);
  ~ScramServer();
  ScramServer(const ScramServer&) = default;
  ScramServer& operator=(const ScramServer&) = default;
  ScramServer(ScramServer&&) noexcept = default;
  ScramServer& operator=(ScramServer&&) noexcept = default;

  /// Checks the client-first-message; on ok, user() is the name to look up.
  ScramStatus client_first(std::string_view msg);
  /// The user name from client-first (authcid).
  const std::string& user() const noexcept { return first_.user; }
  /// Takes the looked-up secret and the server's nonce part (printable, no
  /// ','); returns the server-first-message "r=...,s=...,i=...".
  std::string server_first(ScramSecret secret, std::string_view server_nonce);
  /// Checks the client-final-message: nonce, channel binding, proof.
  ScramStatus client_final(std::string_view msg);
  /// The server-final-message "v=..."; meaningful after client_final() == ok.
  std::string server_final() const;
  /// Forgets the exchange and wipes the secret.
  void reset() noexcept;

 private:
  bool plus_ = false;
  ChannelBinding link_;
  ScramClientFirst first_;
  std::string server_first_;
  std::string nonce_;  ///< client nonce + server nonce
  ScramSecret secret_;
  std::string server_signature_;
};

}  // namespace popbox::auth
