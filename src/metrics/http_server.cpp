#include "metrics/http_server.hpp"

#include <array>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstring>
#include <exception>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/limits.hpp"

namespace popbox::metrics {

namespace {

namespace http = boost::beast::http;
using asio::ip::tcp;

// One accepted connection. The deadline closes the socket, which ends
// whatever read or write the coroutine waits for.
struct Connection {
  explicit Connection(tcp::socket s) : socket(std::move(s)), deadline(socket.get_executor()) {}
  tcp::socket socket;
  asio::steady_timer deadline;
};

HttpReply error_reply(unsigned status, const char* text) {
  return HttpReply{status, "text/plain", std::string(text) + "\n"};
}

// The reply to a request head the parser refused.
HttpReply refusal(const boost::system::error_code& ec) {
  if (ec == http::error::header_limit) return error_reply(431, "request header too large");
  if (ec == http::error::body_limit || ec == http::error::unexpected_body) {
    return error_reply(413, "request body not accepted");
  }
  return error_reply(400, "bad request");
}

// The bytes of `reply` as an HTTP/1.1 response; only its head for HEAD.
std::string serialize(const HttpReply& reply, bool head) {
  http::response<http::string_body> res;
  res.version(11);
  res.result(reply.status);
  res.set(http::field::server, "popbox");
  res.set(http::field::content_type, reply.content_type);
  res.body() = reply.body;
  res.prepare_payload();
  res.keep_alive(false);
  http::serializer<false, http::string_body> sr(res);
  sr.split(head);
  std::string out;
  boost::system::error_code ec;
  while (!(head ? sr.is_header_done() : sr.is_done()) && !ec) {
    sr.next(ec, [&](boost::system::error_code&, const auto& buffers) {
      std::size_t n = 0;
      for (const auto b : boost::beast::buffers_range_ref(buffers)) {
        out.append(static_cast<const char*>(b.data()), b.size());
        n += b.size();
      }
      sr.consume(n);
    });
  }
  return out;
}

}  // namespace

struct HttpServer::Impl {
  Impl(HttpLimits l, Handler h) : limits(l), handler(std::move(h)) {}

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(std::shared_ptr<Connection> c);
  // The reply to the request read from `c`; nullopt when the peer left or
  // the deadline passed first.
  asio::awaitable<std::optional<std::pair<HttpReply, bool>>> read_request(Connection& c);

  HttpLimits limits;
  Handler handler;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::uint16_t port = 0;
  std::thread thread;
  bool stopping = false;                        // io thread only
  std::unordered_set<Connection*> connections;  // io thread only
};

asio::awaitable<void> HttpServer::Impl::accept_loop() {
  for (;;) {
    std::error_code ec;
    tcp::socket socket =
        co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping) co_return;
    if (ec) {
      // EMFILE and friends: back off instead of spinning.
      asio::steady_timer pause(io, limits::accept_backoff);
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (connections.size() >= limits.max_connections) continue;  // closed at once
    asio::co_spawn(io, serve(std::make_shared<Connection>(std::move(socket))), asio::detached);
  }
}

asio::awaitable<std::optional<std::pair<HttpReply, bool>>> HttpServer::Impl::read_request(
    Connection& c) {
  http::request_parser<http::empty_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(limits.header_limit));
  parser.body_limit(0);
  // Beast wants the whole head in one buffer: keep what it has not used.
  std::vector<char> buf(limits.header_limit);
  std::size_t have = 0;
  std::size_t head_bytes = 0;  // read so far, used by the parser or not
  for (;;) {
    std::error_code ec;
    const std::size_t n =
        co_await c.socket.async_read_some(asio::buffer(buf.data() + have, buf.size() - have),
                                          asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return std::nullopt;  // the peer left, the deadline, or stop()
    have += n;
    head_bytes += n;
    boost::system::error_code perr;
    for (;;) {
      const std::size_t used = parser.put(boost::asio::const_buffer(buf.data(), have), perr);
      std::memmove(buf.data(), buf.data() + used, have - used);
      have -= used;
      if (perr || parser.is_done() || used == 0) break;
    }
    if (perr == http::error::need_more) {
      // The head is not complete after header_limit bytes: it is too large
      // (Beast frees the lines it has parsed, so the buffer may not be full).
      if (head_bytes < buf.size()) continue;
      perr = http::error::header_limit;
    }
    if (perr) co_return std::pair{refusal(perr), false};
    if (!parser.is_done()) continue;
    const auto& req = parser.get();
    HttpRequest request{std::string(req.method_string()), std::string(req.target())};
    const bool head = req.method() == http::verb::head;
    try {
      co_return std::pair{handler(request), head};
    } catch (const std::exception&) {
      co_return std::pair{error_reply(500, "internal error"), head};
    }
  }
}

asio::awaitable<void> HttpServer::Impl::serve(std::shared_ptr<Connection> c) {
  connections.insert(c.get());
  struct Forget {
    Impl& impl;
    Connection* c;
    ~Forget() { impl.connections.erase(c); }
  } forget{*this, c.get()};
  c->deadline.expires_after(limits.deadline);
  c->deadline.async_wait([weak = std::weak_ptr<Connection>(c)](std::error_code ec) {
    if (auto live = weak.lock(); live && !ec) live->socket.close(ec);
  });
  auto reply = co_await read_request(*c);
  std::error_code ec;
  if (reply) {
    const std::string bytes = serialize(reply->first, reply->second);
    co_await asio::async_write(c->socket, asio::buffer(bytes),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) c->socket.shutdown(tcp::socket::shutdown_send, ec);
    // Closing with unread input resets the connection, which can destroy
    // the reply before the client reads it: read on until the client
    // closes, at most discard_limit bytes (and within the deadline).
    std::array<char, 1024> sink;
    for (std::size_t discarded = 0; !ec && discarded < limits.discard_limit;) {
      discarded += co_await c->socket.async_read_some(
          asio::buffer(sink), asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  c->deadline.cancel();
  c->socket.close(ec);
}

HttpServer::HttpServer(const std::string& host, std::uint16_t port, HttpLimits limits,
                       Handler handler)
    : impl_(std::make_unique<Impl>(limits, std::move(handler))) {
  std::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) throw std::runtime_error("[metrics] invalid listen address '" + host + "'");
  const tcp::endpoint endpoint(address, port);
  auto& a = impl_->acceptor;
  if (a.open(endpoint.protocol(), ec) || a.set_option(tcp::acceptor::reuse_address(true), ec) ||
      a.bind(endpoint, ec) || a.listen(asio::socket_base::max_listen_connections, ec)) {
    throw std::runtime_error("[metrics] cannot listen on " + host + ":" + std::to_string(port) +
                             ": " + ec.message());
  }
  impl_->port = a.local_endpoint().port();
}

HttpServer::~HttpServer() {
  stop();
}

std::uint16_t HttpServer::port() const noexcept {
  return impl_->port;
}

void HttpServer::start() {
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  impl_->thread = std::thread([impl = impl_.get()] { impl->io.run(); });
}

void HttpServer::stop() {
  if (!impl_->thread.joinable()) return;
  asio::post(impl_->io, [impl = impl_.get()] {
    impl->stopping = true;
    std::error_code ec;
    impl->acceptor.close(ec);
    for (Connection* c : impl->connections) {
      c->deadline.cancel();
      c->socket.close(ec);
    }
  });
  impl_->thread.join();
}

}  // namespace popbox::metrics
