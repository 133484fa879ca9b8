#pragma once
// One POP3 connection: a coroutine that moves bytes between the socket (plain
// or TLS) and the pure pop3::Session, and carries out the slow actions the
// session asks for on the blocking pool.

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

namespace popbox::net {

struct ServerState;
struct ConnectionSet;

/// Serves one accepted connection until it ends. `implicit_tls`: the
/// connection came in on a POP3S port and starts with a TLS handshake.
asio::awaitable<void> serve_pop3(asio::ip::tcp::socket socket, bool implicit_tls,
                                 ServerState& state, ConnectionSet& set);

}  // namespace popbox::net
