#pragma once
// The channel binding data of an established TLS link, for SCRAM-*-PLUS.

#include <openssl/ssl.h>

#include "auth/scram.hpp"

namespace popbox::net {

/// TLS 1.3: "tls-exporter" (RFC 9266, 32 bytes exported with the label
/// "EXPORTER-Channel-Binding" and no context). TLS 1.2: "tls-unique" (RFC
/// 5929, the first Finished message), only when the handshake used the
/// extended master secret (RFC 7627). Empty otherwise, for other versions or
/// on error.
auth::ChannelBinding channel_binding(SSL* ssl);

}  // namespace popbox::net
