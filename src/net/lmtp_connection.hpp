#pragma once
// One LMTP connection (TCP or unix socket): a coroutine that moves bytes
// between the socket and the pure lmtp::Session, reads DATA bodies into a
// spool, and runs lookups and deliveries on the blocking pool.

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>

namespace popbox::lmtp {
class LocalDelivery;
}

namespace popbox::net {

struct ServerState;
struct ConnectionSet;

/// Serves one LMTP connection from TCP until it ends.
asio::awaitable<void> serve_lmtp(asio::ip::tcp::socket socket, ServerState& state,
                                 ConnectionSet& set, lmtp::LocalDelivery& delivery);
/// Serves one LMTP connection from the unix socket until it ends.
asio::awaitable<void> serve_lmtp(asio::local::stream_protocol::socket socket, ServerState& state,
                                 ConnectionSet& set, lmtp::LocalDelivery& delivery);

}  // namespace popbox::net
