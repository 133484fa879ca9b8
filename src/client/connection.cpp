// The connection coroutine of `popbox fetch`.
#include "client/connection.hpp"

#include <fmt/format.h>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ssl.hpp>
#include <chrono>
#include <vector>

#include "client/tls_client.hpp"

namespace popbox::client {

using asio::ip::tcp;
using std::chrono::steady_clock;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

namespace {

// The socket and its watchdog: when the deadline of the current read or
// write passes, the socket is closed and the operation fails.
struct Link {
  explicit Link(const asio::any_io_executor& ex) : socket(ex), timer(ex) {}
  void arm(steady_clock::duration d) {
    deadline = steady_clock::now() + d;
    if (deadline < timer.expiry()) timer.cancel();
  }
  tcp::socket socket;
  asio::steady_timer timer;
  steady_clock::time_point deadline = steady_clock::time_point::max();
  bool timed_out = false;
  bool finished = false;
};

asio::awaitable<void> watchdog(std::shared_ptr<Link> link) {
  while (!link->finished) {
    link->timer.expires_at(link->deadline);
    co_await link->timer.async_wait(use_tuple);
    if (link->finished) break;
    if (steady_clock::now() >= link->deadline) {
      link->timed_out = true;
      std::error_code ignored;
      link->socket.close(ignored);
      break;
    }
  }
}

struct DriveResult {
  Failure failure;
  bool start_tls = false;
};

class Driver {
 public:
  Driver(const AccountConfig& a, Link& link, Session& session, Engine& engine,
         const std::atomic<bool>* stop)
      : account_(a),
        link_(link),
        session_(session),
        engine_(engine),
        stop_(stop),
        buf_(limits::read_block) {}

  Failure transport_failure(std::string_view what, const std::error_code& ec) const {
    if (link_.timed_out) {
      return fail(
          fetch_errc::temporary,
          fmt::format("{}:{}: no answer within {} s while {}", account_.host, account_.port,
                      std::chrono::duration_cast<std::chrono::seconds>(account_.timeout).count(),
                      what));
    }
    return fail(fetch_errc::temporary,
                fmt::format("{}:{}: connection lost while {}: {}", account_.host, account_.port,
                            what, ec.message()));
  }

  // Writes the commands the session has ready, if any.
  template <class Stream>
  asio::awaitable<Failure> write_pending(Stream& stream) {
    std::string_view out = session_.output();
    if (out.empty()) co_return Failure{};
    link_.arm(account_.timeout);
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(out), use_tuple);
    if (ec) co_return transport_failure("writing", ec);
    session_.output_done();
    co_return Failure{};
  }

  // Moves bytes until the session ends, fails, or asks for STLS.
  template <class Stream>
  asio::awaitable<DriveResult> run(Stream& stream) {
    for (;;) {
      if (auto f = co_await write_pending(stream)) co_return DriveResult{f};
      if (session_.finished()) co_return DriveResult{};
      link_.arm(account_.timeout);
      auto [ec, n] = co_await stream.async_read_some(asio::buffer(buf_), use_tuple);
      if (ec) {
        if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
          Failure f = session_.eof();
          co_return DriveResult{f};
        }
        co_return DriveResult{transport_failure("reading", ec)};
      }
      std::string_view in(buf_.data(), n);
      Session::Event ev;
      do {
        in.remove_prefix(session_.receive(in, ev));
        switch (ev.kind) {
          case Session::EventKind::none:
            break;
          case Session::EventKind::failed:
            co_return DriveResult{ev.failure};
          case Session::EventKind::start_tls:
            // STYLE rule 6: whatever came with the STLS reply is dropped.
            co_return DriveResult{{}, true};
          case Session::EventKind::listing:
            if (stopping()) co_return DriveResult{stopped()};  // nothing asked for yet
            [[fallthrough]];
          default:
            if (auto f = engine_.on_event(session_, ev)) co_return DriveResult{f};
            // Stop between messages: the one just written is the engine's
            // to record (finish()), the ones pipelined behind it are left.
            if (ev.kind == Session::EventKind::body_end && stopping()) {
              co_return DriveResult{stopped()};
            }
            // Refill the pipeline at once (a RETR slot freed, DELEs
            // queued) rather than after the whole block: the server keeps
            // sending while the engine waits for the disk.
            if (auto f = co_await write_pending(stream)) co_return DriveResult{f};
            break;
        }
      } while (!in.empty() || ev.kind != Session::EventKind::none);
    }
  }

 private:
  const AccountConfig& account_;
  Link& link_;
  Session& session_;
  Engine& engine_;
  const std::atomic<bool>* stop_;
  std::vector<char> buf_;

  bool stopping() const { return stop_ && stop_->load(); }
  Failure stopped() const {
    return fail(fetch_errc::temporary, "stopped (SIGTERM) before the end of the run");
  }
};

template <class Tls>
asio::awaitable<Failure> handshake(const AccountConfig& a, Link& link, Tls& tls) {
  if (auto f = prepare_tls(tls.native_handle(), a)) co_return f;
  link.arm(std::min<steady_clock::duration>(limits::tls_handshake_timeout, a.timeout));
  auto [ec] = co_await tls.async_handshake(asio::ssl::stream_base::client, use_tuple);
  if (ec) {
    if (link.timed_out) {
      co_return fail(fetch_errc::temporary,
                     fmt::format("{}:{}: TLS handshake timed out", a.host, a.port));
    }
    co_return tls_handshake_failure(tls.native_handle(), ec, a);
  }
  co_return check_pin(tls.native_handle(), a);
}

template <class Tls>
asio::awaitable<void> goodbye(Link& link, Tls& tls) {
  link.arm(std::chrono::seconds(2));
  co_await tls.async_shutdown(use_tuple);
}

asio::awaitable<Failure> connect(const AccountConfig& a, Link& link) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  std::string port = std::to_string(a.port);
  link.arm(a.timeout);
  auto [rec, endpoints] = co_await resolver.async_resolve(a.host, port, use_tuple);
  if (rec) {
    co_return fail(fetch_errc::unavailable,
                   fmt::format("cannot resolve {}: {}", a.host, rec.message()));
  }
  link.arm(a.timeout);
  auto [cec, ep] = co_await asio::async_connect(link.socket, endpoints, use_tuple);
  if (cec) {
    if (link.timed_out) {
      co_return fail(fetch_errc::temporary,
                     fmt::format("connecting to {}:{} timed out", a.host, a.port));
    }
    co_return fail(fetch_errc::unavailable,
                   fmt::format("cannot connect to {}:{}: {}", a.host, a.port, cec.message()));
  }
  // Commands are small and pipelined: do not let Nagle hold them back
  // waiting for an ACK the server delays.
  std::error_code ignored;
  link.socket.set_option(tcp::no_delay(true), ignored);
  co_return Failure{};
}

}  // namespace

asio::awaitable<Failure> run_connection(const AccountConfig& a, Session& session, Engine& engine,
                                        const std::atomic<bool>* stop) {
  auto ex = co_await asio::this_coro::executor;
  auto link = std::make_shared<Link>(ex);
  auto dog = watchdog(link);
  asio::co_spawn(ex, std::move(dog), asio::detached);
  Failure result = co_await connect(a, *link);
  std::shared_ptr<asio::ssl::context> ctx;
  if (!result && a.tls != TlsMode::none) ctx = make_client_tls_context(a, result);
  Driver driver(a, *link, session, engine, stop);
  if (!result && a.tls == TlsMode::implicit) {
    asio::ssl::stream<tcp::socket&> tls(link->socket, *ctx);
    result = co_await handshake(a, *link, tls);
    if (!result) {
      DriveResult r = co_await driver.run(tls);
      result = r.failure;
      if (!result) co_await goodbye(*link, tls);
    }
  } else if (!result) {
    DriveResult r = co_await driver.run(link->socket);
    result = r.failure;
    if (!result && r.start_tls) {
      asio::ssl::stream<tcp::socket&> tls(link->socket, *ctx);
      result = co_await handshake(a, *link, tls);
      if (!result) {
        session.tls_started();
        DriveResult r2 = co_await driver.run(tls);
        result = r2.failure;
        if (!result) co_await goodbye(*link, tls);
      }
    } else if (!result && r.start_tls == false && !session.finished()) {
      result = fail(fetch_errc::protocol, "the session ended early");
    }
  }
  link->finished = true;
  link->timer.cancel();
  std::error_code ignored;
  link->socket.close(ignored);
  co_return result;
}

}  // namespace popbox::client
