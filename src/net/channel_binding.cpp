#include "net/channel_binding.hpp"

#include <array>
#include <string_view>

namespace popbox::net {

auth::ChannelBinding channel_binding(SSL* ssl) {
  auth::ChannelBinding cb;
  if (ssl == nullptr) return cb;
  const int version = SSL_version(ssl);
  if (version == TLS1_3_VERSION) {
    constexpr std::string_view label = "EXPORTER-Channel-Binding";
    std::array<unsigned char, 32> out{};
    if (SSL_export_keying_material(ssl, out.data(), out.size(), label.data(), label.size(), nullptr,
                                   0, 0) == 1) {
      cb.type = "tls-exporter";
      cb.data.assign(reinterpret_cast<const char*>(out.data()), out.size());
    }
  } else if (version == TLS1_2_VERSION && SSL_get_extms_support(ssl) == 1) {
    // Without the extended master secret (RFC 7627) tls-unique is not
    // unique: the triple handshake attack gives two links the same value
    // (RFC 9266 section 1), so -PLUS is not offered there.
    // The first Finished of the handshake: the client's in a full
    // handshake, the server's when the session was resumed.
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    const std::size_t n = SSL_session_reused(ssl) != 0
                              ? SSL_get_finished(ssl, out.data(), out.size())
                              : SSL_get_peer_finished(ssl, out.data(), out.size());
    if (n > 0 && n <= out.size()) {
      cb.type = "tls-unique";
      cb.data.assign(reinterpret_cast<const char*>(out.data()), n);
    }
  }
  return cb;
}

}  // namespace popbox::net
