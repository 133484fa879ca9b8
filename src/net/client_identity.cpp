#include "net/client_identity.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <string_view>
#include <system_error>

#include "core/limits.hpp"
#include "core/log.hpp"
#include "core/proxy_header.hpp"
#include "net/server_state.hpp"

namespace popbox::net::detail {

using asio::ip::tcp;
using Socket = WatchedSocket<tcp::socket>;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

namespace {

core::IpAddress to_ip(const asio::ip::address& a) {
  core::IpAddress ip;
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), ip.bytes.begin());
  } else {
    ip.v6 = true;
    auto b = a.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), ip.bytes.begin());
  }
  return ip.unmapped();
}

bool trusted_proxy(const ServerState& st, const core::IpAddress& a) {
  for (const auto& net : st.cfg.server.trusted_proxies) {
    if (net.contains(a)) return true;
  }
  return false;
}

std::string with_port(const core::IpAddress& a, std::uint16_t port) {
  return a.v6 ? fmt::format("[{}]:{}", a.to_string(), port)
              : fmt::format("{}:{}", a.to_string(), port);
}

// Reads a PROXY header without reading past it: the bytes are peeked, and
// only the header's share is taken off the socket.
asio::awaitable<std::optional<core::ProxyHeader>> read_proxy_header(Socket& conn,
                                                                    const ServerState& st,
                                                                    std::uint64_t session_id,
                                                                    const std::string& peer) {
  core::ProxyHeaderParser parser;
  std::array<char, limits::max_proxy_header> buf;
  for (;;) {
    conn.arm(st.cfg.server.idle_timeout);
    auto [wec] = co_await conn.socket.async_wait(tcp::socket::wait_read, use_tuple);
    if (wec) co_return std::nullopt;
    std::error_code ec;
    std::size_t n = conn.socket.receive(asio::buffer(buf), tcp::socket::message_peek, ec);
    if (ec || n == 0) co_return std::nullopt;
    std::size_t used = 0;
    auto r = parser.feed(std::string_view(buf.data(), n), used);
    if (r == core::ProxyHeaderParser::Result::error) {
      core::log_info(fmt::format("session={} event=proxy_refused peer={} error=\"{}\"", session_id,
                                 peer, parser.error()));
      co_return std::nullopt;
    }
    if (used > 0) asio::read(conn.socket, asio::buffer(buf.data(), used), ec);
    if (ec) co_return std::nullopt;
    if (r == core::ProxyHeaderParser::Result::done) co_return parser.header();
  }
}

}  // namespace

asio::awaitable<std::optional<Client>> identify_client(Socket& conn, const ServerState& st,
                                                       std::uint64_t session_id) {
  std::error_code ec;
  auto remote = conn.socket.remote_endpoint(ec);
  if (ec) co_return std::nullopt;  // already gone
  Client c;
  c.address = to_ip(remote.address());
  c.peer = with_port(c.address, remote.port());
  if (trusted_proxy(st, c.address)) {
    auto header = co_await read_proxy_header(conn, st, session_id, c.peer);
    if (!header) {
      if (!conn.timed_out) {
        core::log_info(
            fmt::format("session={} event=proxy_refused peer={} error=\"no PROXY "
                        "header\"",
                        session_id, c.peer));
      }
      co_return std::nullopt;
    }
    if (header->has_addresses) {
      c.via = " proxy=" + c.peer;
      c.address = header->source.unmapped();
      c.peer = with_port(c.address, header->source_port);
    } else if (!header->local) {
      // A client the proxy could not name (v1 UNKNOWN, v2 AF_UNSPEC or
      // AF_UNIX): counted under the proxy's address for per-IP limits, but
      // never trusted as loopback, wherever the proxy runs.
      c.via = " proxy=" + c.peer + " client=unknown";
      c.loopback = false;
      co_return c;
    }
  }
  c.loopback = c.address.is_loopback();
  co_return c;
}

}  // namespace popbox::net::detail
