#pragma once
// One POP3 connection: a coroutine that moves bytes between the socket (plain
// or TLS) and the pure pop3::Session, and carries out the slow actions the
// session asks for on the blocking pool.

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <unordered_set>

namespace popbox::net {

struct ServerState;
class Connection;

/// The live connections of one event thread, so shutdown can reach them.
/// Only touched from that thread.
struct ConnectionSet {
  std::unordered_set<Connection*> live;
  /// Closes idle connections now; busy ones close when their command is done.
  void request_stop();
  /// Closes every connection now.
  void close_all();
};

/// Serves one accepted connection until it ends. `implicit_tls`: the
/// connection came in on a POP3S port and starts with a TLS handshake.
asio::awaitable<void> serve_pop3(asio::ip::tcp::socket socket, bool implicit_tls,
                                 ServerState& state, ConnectionSet& set);

}  // namespace popbox::net
