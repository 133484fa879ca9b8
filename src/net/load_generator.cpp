#include "net/load_generator.hpp"

#include <fmt/format.h>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ssl.hpp>

#include "core/limits.hpp"

namespace popbox::net {
namespace {

using asio::ip::tcp;
using clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// Reads CRLF lines and dot-terminated bodies from a stream.
template <class Stream>
class Reader {
 public:
  explicit Reader(Stream& s) : stream_(s) {}

  // Reads one line (without CRLF); throws on EOF/errors.
  asio::awaitable<std::string> line() {
    std::size_t pos;
    while ((pos = buf_.find("\r\n", start_)) == std::string::npos) co_await more();
    std::string out = buf_.substr(start_, pos - start_);
    start_ = pos + 2;
    co_return out;
  }

  // Skips a multi-line body up to and including ".\r\n"; returns its size.
  asio::awaitable<std::size_t> body() {
    std::size_t begin = start_;
    for (;;) {
      if (buf_.compare(start_, 3, ".\r\n") == 0) break;  // empty body or terminator at start
      std::size_t pos = buf_.find("\r\n.\r\n", start_);
      if (pos != std::string::npos) {
        start_ = pos + 2;
        break;
      }
      begin -= co_await more();
    }
    std::size_t size = start_ - begin;
    start_ += 3;
    co_return size;
  }

 private:
  // Reads more bytes; returns how far the buffer's contents moved down.
  asio::awaitable<std::size_t> more() {
    std::size_t moved = 0;
    if (start_ > 0 && start_ * 2 > buf_.size()) {
      buf_.erase(0, start_);
      moved = start_;
      start_ = 0;
    }
    char chunk[limits::bench_read_block];
    auto [ec, n] = co_await stream_.async_read_some(asio::buffer(chunk), use_tuple);
    if (ec) throw std::system_error(ec);
    buf_.append(chunk, n);
    co_return moved;
  }

  Stream& stream_;
  std::string buf_;
  std::size_t start_ = 0;
};

template <class Stream>
asio::awaitable<void> expect_ok(Reader<Stream>& r, std::string_view what) {
  std::string reply = co_await r.line();
  if (!reply.starts_with("+OK")) {
    throw std::runtime_error(fmt::format("{}: {}", what, reply));
  }
}

template <class Stream>
asio::awaitable<void> pop3_session(Stream& s, const LoadOptions& o, const std::string& user,
                                   LoadResult& result) {
  Reader<Stream> r(s);
  co_await expect_ok(r, "greeting");
  std::string login = fmt::format("USER {}\r\nPASS {}\r\nSTAT\r\n", user, o.password);
  co_await asio::async_write(s, asio::buffer(login), asio::use_awaitable);
  co_await expect_ok(r, "USER");
  co_await expect_ok(r, "PASS");
  std::string stat = co_await r.line();
  unsigned count = 0;
  if (std::sscanf(stat.c_str(), "+OK %u", &count) != 1) throw std::runtime_error("STAT: " + stat);
  std::string cmds;
  if (o.retrieve) {
    for (unsigned i = 1; i <= count; ++i) cmds += fmt::format("RETR {}\r\n", i);
  }
  cmds += "QUIT\r\n";
  co_await asio::async_write(s, asio::buffer(cmds), asio::use_awaitable);
  if (o.retrieve) {
    for (unsigned i = 1; i <= count; ++i) {
      co_await expect_ok(r, "RETR");
      result.bytes += co_await r.body();
      ++result.messages;
    }
  }
  co_await expect_ok(r, "QUIT");
}

asio::awaitable<void> worker(unsigned n, const LoadOptions& o, asio::ssl::context& tls_ctx,
                             clock::time_point end, LoadResult& result) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  const std::string port = std::to_string(o.port);  // not a temporary in co_await (GCC 12)
  auto endpoints = co_await resolver.async_resolve(o.host, port, asio::use_awaitable);
  std::string user = o.user_format;
  if (auto pos = user.find("%d"); pos != std::string::npos) {
    user.replace(pos, 2, std::to_string(n % std::max(1u, o.users)));
  }
  while (clock::now() < end) {
    auto started = clock::now();
    bool failed = false;
    try {
      tcp::socket socket(ex);
      co_await asio::async_connect(socket, endpoints, asio::use_awaitable);
      socket.set_option(tcp::no_delay(true));
      if (o.tls) {
        asio::ssl::stream<tcp::socket&> tls(socket, tls_ctx);
        co_await tls.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
        co_await pop3_session(tls, o, user, result);
      } else {
        co_await pop3_session(socket, o, user, result);
      }
      ++result.sessions;
      result.session_ms.push_back(
          std::chrono::duration<double, std::milli>(clock::now() - started).count());
    } catch (const std::exception& e) {
      if (result.first_error.empty()) result.first_error = e.what();
      ++result.errors;
      failed = true;
    }
    if (failed) {
      // Do not spin on a server that refuses: pause briefly.
      asio::steady_timer pause(ex, limits::bench_retry_pause);
      co_await pause.async_wait(use_tuple);
    }
  }
}

}  // namespace

LoadResult run_load(const LoadOptions& o) {
  asio::io_context io(1);
  asio::ssl::context tls_ctx(asio::ssl::context::tls_client);
  tls_ctx.set_verify_mode(asio::ssl::verify_none);  // a benchmark, not a client
  LoadResult result;
  auto start = clock::now();
  auto end = start + o.duration;
  for (unsigned i = 0; i < o.connections; ++i) {
    asio::co_spawn(io, worker(i, o, tls_ctx, end, result), asio::detached);
  }
  io.run();
  result.seconds = std::chrono::duration<double>(clock::now() - start).count();
  return result;
}

}  // namespace popbox::net
