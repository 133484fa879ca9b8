#pragma once
// Internal to the POP3 connection (pop3_connection.cpp): who the client of an
// accepted socket is, the socket's peer or, behind a trusted proxy, the
// source address of its PROXY protocol header. Not an interface for other
// modules.

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "core/ip_address.hpp"
#include "net/watched_socket.hpp"

namespace popbox::net {
struct ServerState;
}

namespace popbox::net::detail {

/// Who the client is: the peer of the socket, or, for a trusted proxy, the
/// source address of its PROXY protocol header.
struct Client {
  core::IpAddress address;
  std::string peer;  ///< "address:port" for the log
  bool loopback = false;
  std::string via;  ///< " proxy=..." for the log when a proxy named the client
};

/// Names the client of `conn` (session `session_id`, for the log). From a
/// trusted proxy it reads the PROXY header and nothing past it; nullopt if
/// the socket is gone or a trusted proxy sent no valid header (logged). A
/// client the proxy could not name is never loopback.
asio::awaitable<std::optional<Client>> identify_client(WatchedSocket<asio::ip::tcp::socket>& conn,
                                                       const ServerState& st,
                                                       std::uint64_t session_id);

}  // namespace popbox::net::detail
