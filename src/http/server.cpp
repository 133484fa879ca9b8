#include "http/server.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cctype>
#include <exception>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/limits.hpp"

namespace popbox::http {

namespace {

namespace bhttp = boost::beast::http;
using asio::ip::tcp;

// One accepted connection; the timer closes the socket at a deadline, which
// ends whatever read or write the coroutine waits for.
struct Connection {
  Connection(tcp::socket s, std::size_t ctx)
      : socket(std::move(s)), timer(socket.get_executor()), context(ctx) {}
  tcp::socket socket;
  asio::steady_timer timer;
  std::size_t context;

  void arm(std::chrono::milliseconds d) {
    timer.expires_after(d);
    timer.async_wait([this](std::error_code ec) {
      if (!ec) socket.close(ec);
    });
  }
  void disarm() { timer.cancel(); }
};

template <class Message>
std::string serialize_message(Message& res, bool head_only) {
  bhttp::serializer<false, typename Message::body_type> sr(res);
  sr.split(head_only);
  std::string out;
  boost::system::error_code ec;
  while (!(head_only ? sr.is_header_done() : sr.is_done()) && !ec) {
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

// The bytes of `r`: its head and, unless `head_only`, its body.
std::string serialize(const Response& r, bool head_only, bool keep_alive) {
  bhttp::response<bhttp::string_body> res;
  res.version(11);
  res.result(r.status);
  res.set(bhttp::field::server, "popbox");
  if (!r.content_type.empty()) res.set(bhttp::field::content_type, r.content_type);
  for (const auto& [k, v] : r.headers) res.set(k, v);
  res.body() = r.body;
  res.prepare_payload();
  res.keep_alive(keep_alive);
  return serialize_message(res, head_only);
}

// The head of a streamed response: no length, the connection closes at its end.
std::string stream_head(const Response& r) {
  bhttp::response<bhttp::empty_body> res;
  res.version(11);
  res.result(r.status);
  res.set(bhttp::field::server, "popbox");
  res.set(bhttp::field::content_type, r.content_type);
  for (const auto& [k, v] : r.headers) res.set(k, v);
  res.keep_alive(false);
  return serialize_message(res, true);
}

Response plain_error(unsigned status, const char* text) {
  Response r;
  r.status = status;
  r.body = std::string("{\"error\":\"") + text + "\"}";
  return r;
}

Response refusal(const boost::system::error_code& ec) {
  if (ec == bhttp::error::header_limit) return plain_error(431, "request header too large");
  if (ec == bhttp::error::body_limit) return plain_error(413, "request body too large");
  return plain_error(400, "bad request");
}

class SocketWriter final : public StreamWriter {
 public:
  SocketWriter(Connection& c, std::chrono::milliseconds timeout) : c_(c), timeout_(timeout) {}
  asio::awaitable<bool> write(std::string_view bytes) override {
    if (!c_.socket.is_open()) co_return false;
    std::error_code ec;
    c_.arm(timeout_);
    co_await asio::async_write(c_.socket, asio::buffer(bytes),
                               asio::redirect_error(asio::use_awaitable, ec));
    c_.disarm();
    co_return !ec;
  }

 private:
  Connection& c_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

ServerLimits ServerLimits::defaults() {
  return ServerLimits{limits::http_max_connections,  limits::http_max_request_head,
                      limits::http_max_request_body, limits::http_request_timeout,
                      limits::http_idle_timeout,     limits::http_write_timeout,
                      limits::http_threads};
}

struct Server::Impl {
  Impl(ServerLimits l, Handler h) : limits(l), handler(std::move(h)) {
    const unsigned n = std::max(1u, limits.threads);
    for (unsigned i = 0; i < n; ++i) contexts.push_back(std::make_unique<asio::io_context>(1));
    live.resize(n);
    acceptor.emplace(*contexts[0]);
  }

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(std::shared_ptr<Connection> c);
  // Reads the next request into `out`; false when the connection is to
  // close (peer gone, deadline), with `refused` set when a reply is due.
  asio::awaitable<bool> read_request(Connection& c, std::string& buf, Request& out,
                                     bool& keep_alive, std::optional<Response>& refused);

  ServerLimits limits;
  Handler handler;
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  // Keeps each context's run() going while it has no connection yet.
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;
  std::uint16_t port = 0;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> open{0};
  std::vector<std::unordered_set<Connection*>> live;  // [context], its thread only
};

asio::awaitable<void> Server::Impl::accept_loop() {
  std::size_t next = 0;
  for (;;) {
    std::error_code ec;
    const std::size_t ctx = next++ % contexts.size();
    tcp::socket socket = co_await acceptor->async_accept(
        contexts[ctx]->get_executor(), asio::redirect_error(asio::use_awaitable, ec));
    if (stopping) co_return;
    if (ec) {
      asio::steady_timer pause(*contexts[0], limits::accept_backoff);
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (open.load() >= limits.max_connections) continue;  // closed at once
    open.fetch_add(1);
    socket.set_option(tcp::no_delay(true), ec);
    auto conn = std::make_shared<Connection>(std::move(socket), ctx);
    asio::co_spawn(*contexts[ctx], serve(std::move(conn)), asio::detached);
  }
}

asio::awaitable<bool> Server::Impl::read_request(Connection& c, std::string& buf, Request& out,
                                                 bool& keep_alive,
                                                 std::optional<Response>& refused) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(limits.max_request_head));
  parser.body_limit(limits.max_request_body);
  parser.eager(true);
  c.arm(buf.empty() ? limits.idle_timeout : limits.request_timeout);
  std::size_t head_bytes = buf.size();  // read for this head (Beast frees parsed lines)
  for (;;) {
    boost::system::error_code perr;
    while (!buf.empty() && !parser.is_done()) {
      const std::size_t used = parser.put(boost::asio::const_buffer(buf.data(), buf.size()), perr);
      buf.erase(0, used);
      if (perr || used == 0) break;
    }
    if (perr == bhttp::error::need_more) {
      perr = {};
      if (!parser.is_header_done() && head_bytes >= limits.max_request_head) {
        perr = bhttp::error::header_limit;
      }
    }
    if (perr) {
      refused = refusal(perr);
      co_return false;
    }
    if (parser.is_done()) break;
    // Read more: into the buffer's tail, so an idle connection holds little.
    const std::size_t have = buf.size();
    buf.resize(have + 4096);
    std::error_code ec;
    const std::size_t n = co_await c.socket.async_read_some(
        asio::buffer(buf.data() + have, 4096), asio::redirect_error(asio::use_awaitable, ec));
    buf.resize(have + n);
    if (ec) co_return false;
    if (!parser.is_header_done()) head_bytes += n;
    c.arm(limits.request_timeout);
  }
  c.disarm();
  auto& req = parser.get();
  out.method = std::string(req.method_string());
  out.target = std::string(req.target());
  const auto q = out.target.find('?');
  out.path = out.target.substr(0, q);
  out.query = q == std::string::npos ? Fields{} : parse_query(out.target.substr(q + 1));
  for (const auto& f : req) {
    std::string name(f.name_string());
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    out.headers.emplace_back(std::move(name), std::string(f.value()));
  }
  out.body = std::move(req.body());
  keep_alive = req.keep_alive();
  co_return true;
}

asio::awaitable<void> Server::Impl::serve(std::shared_ptr<Connection> c) {
  live[c->context].insert(c.get());
  struct Forget {
    Impl& impl;
    Connection* c;
    ~Forget() {
      impl.live[c->context].erase(c);
      impl.open.fetch_sub(1);
    }
  } forget{*this, c.get()};
  std::string buf;
  std::error_code ec;
  while (!stopping) {
    Request req;
    bool keep_alive = false;
    std::optional<Response> refused;
    const bool ok = co_await read_request(*c, buf, req, keep_alive, refused);
    if (!ok) {
      if (refused && c->socket.is_open()) {
        const std::string bytes = serialize(*refused, false, false);
        c->arm(limits.write_timeout);
        co_await asio::async_write(c->socket, asio::buffer(bytes),
                                   asio::redirect_error(asio::use_awaitable, ec));
      }
      break;
    }
    if (buf.empty()) std::string().swap(buf);  // a waiting request holds no buffer
    Response res;
    try {
      res = co_await handler(req);
    } catch (const std::exception&) {
      res = plain_error(500, "internal error");
    }
    if (!c->socket.is_open() || stopping) break;
    const bool head_only = req.method == "HEAD";
    if (res.stream && !head_only) {
      const std::string head = stream_head(res);
      SocketWriter writer(*c, limits.write_timeout);
      if (co_await writer.write(head)) co_await res.stream(writer);
      break;
    }
    const std::string bytes = serialize(res, head_only, keep_alive);
    c->arm(limits.write_timeout);
    co_await asio::async_write(c->socket, asio::buffer(bytes),
                               asio::redirect_error(asio::use_awaitable, ec));
    c->disarm();
    if (ec || !keep_alive) break;
  }
  c->disarm();
  c->socket.shutdown(tcp::socket::shutdown_send, ec);
  c->socket.close(ec);
}

Server::Server(const std::string& host, std::uint16_t port, ServerLimits limits, Handler handler)
    : impl_(std::make_unique<Impl>(limits, std::move(handler))) {
  std::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) throw std::runtime_error("invalid HTTP listen address '" + host + "'");
  const tcp::endpoint endpoint(address, port);
  auto& a = *impl_->acceptor;
  if (a.open(endpoint.protocol(), ec) || a.set_option(tcp::acceptor::reuse_address(true), ec) ||
      a.bind(endpoint, ec) || a.listen(asio::socket_base::max_listen_connections, ec)) {
    throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                             ec.message());
  }
  impl_->port = a.local_endpoint().port();
}

Server::~Server() {
  stop();
}

std::uint16_t Server::port() const noexcept {
  return impl_->port;
}

std::size_t Server::connections() const noexcept {
  return impl_->open.load();
}

void Server::start() {
  asio::co_spawn(*impl_->contexts[0], impl_->accept_loop(), asio::detached);
  for (auto& ctx : impl_->contexts) {
    impl_->work.push_back(asio::make_work_guard(*ctx));
    impl_->threads.emplace_back([io = ctx.get()] { io->run(); });
  }
}

void Server::stop() {
  if (impl_->threads.empty()) return;
  impl_->stopping = true;
  for (std::size_t i = 0; i < impl_->contexts.size(); ++i) {
    asio::post(*impl_->contexts[i], [impl = impl_.get(), i] {
      std::error_code ec;
      if (i == 0) impl->acceptor->close(ec);
      for (Connection* c : impl->live[i]) {
        c->disarm();
        c->socket.close(ec);
      }
    });
  }
  // Handlers still waiting (long-polls, streams) are dropped: stop the
  // contexts and destroy them, which frees the suspended coroutines here.
  impl_->work.clear();
  for (auto& ctx : impl_->contexts) ctx->stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  impl_->acceptor.reset();
  for (auto& ctx : impl_->contexts) ctx.reset();
}

}  // namespace popbox::http
