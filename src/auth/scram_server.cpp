#include "auth/scram_server.hpp"

#include <openssl/crypto.h>

#include "core/base64.hpp"

namespace popbox::auth {

ScramServer::ScramServer(bool plus, ChannelBinding link) : plus_(plus), link_(std::move(link)) {}

ScramServer::~ScramServer() {
  reset();
}

void ScramServer::reset() noexcept {
  wipe(secret_);
  if (!server_signature_.empty()) {
    OPENSSL_cleanse(server_signature_.data(), server_signature_.size());
  }
  server_signature_.clear();
  first_ = ScramClientFirst{};
  server_first_.clear();
  nonce_.clear();
}

ScramStatus ScramServer::client_first(std::string_view msg) {
  auto parsed = parse_client_first(msg);
  if (!parsed.value) {
    return parsed.error == ScramParseError::extension ? ScramStatus::extension
                                                      : ScramStatus::malformed;
  }
  ScramClientFirst& f = *parsed.value;
  using Binding = ScramClientFirst::Binding;
  switch (f.binding) {
    case Binding::used:
      // "p=" only with the -PLUS mechanism, and only the type this link has.
      if (!plus_ || !link_.available() || f.cb_name != link_.type) {
        return ScramStatus::binding_refused;
      }
      break;
    case Binding::client_only:
      // RFC 5802 section 6: the client could bind and believes the server
      // cannot; if this link offers -PLUS, someone removed it from CAPA.
      if (plus_ || link_.available()) return ScramStatus::binding_refused;
      break;
    case Binding::none:
      if (plus_) return ScramStatus::binding_refused;
      break;
  }
  if (!f.authzid.empty() && f.authzid != f.user) return ScramStatus::authzid_refused;
  first_ = std::move(f);
  return ScramStatus::ok;
}

std::string ScramServer::server_first(ScramSecret secret, std::string_view server_nonce) {
  wipe(secret_);
  secret_ = std::move(secret);
  nonce_ = first_.nonce + std::string(server_nonce);
  server_first_ = "r=" + nonce_ + ",s=" + core::base64_encode(secret_.salt) +
                  ",i=" + std::to_string(secret_.iterations);
  return server_first_;
}

ScramStatus ScramServer::client_final(std::string_view msg) {
  auto parsed = parse_client_final(msg);
  if (!parsed.value) {
    return parsed.error == ScramParseError::extension ? ScramStatus::extension
                                                      : ScramStatus::malformed;
  }
  const ScramClientFinal& f = *parsed.value;
  if (nonce_.empty() || f.nonce != nonce_) return ScramStatus::nonce_mismatch;
  std::string expected = first_.gs2_header;
  if (first_.binding == ScramClientFirst::Binding::used) expected += link_.data;
  if (f.channel_binding.size() != expected.size() ||
      CRYPTO_memcmp(f.channel_binding.data(), expected.data(), expected.size()) != 0) {
    return ScramStatus::binding_mismatch;
  }
  const std::string auth_message = first_.bare + "," + server_first_ + "," + f.without_proof;
  if (!scram_proof_valid(secret_, auth_message, f.proof)) return ScramStatus::bad_proof;
  server_signature_ = scram_server_signature(secret_, auth_message);
  return ScramStatus::ok;
}

std::string ScramServer::server_final() const {
  return "v=" + core::base64_encode(server_signature_);
}

}  // namespace popbox::auth
