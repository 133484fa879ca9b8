#include "net/smtp_connection.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

#include "core/dot_codec.hpp"
#include "core/limits.hpp"
#include "core/line_reader.hpp"
#include "core/log.hpp"
#include "core/spool.hpp"
#include "net/blocking.hpp"
#include "net/tls_socket.hpp"
#include "net/watched_socket.hpp"

namespace popbox::net {
namespace {

using asio::ip::tcp;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
using limits::smtp_timeout;

enum class Outcome { closed, start_tls };

class SmtpConnection final : public WatchedSocket<tcp::socket> {
 public:
  SmtpConnection(tcp::socket s, ConnectionSet& set, SmtpContext& ctx)
      : WatchedSocket<tcp::socket>(std::move(s), set),
        ctx_(ctx),
        session_(options(ctx)),
        reader_(limits::smtp_max_line) {}

  std::uint64_t id = 0;
  std::string peer;

  asio::awaitable<void> serve() {
    session_.greeting(out_);
    std::error_code nb_ec;
    socket.non_blocking(true, nb_ec);
    Outcome outcome = co_await loop(socket);
    if (outcome != Outcome::start_tls || !ctx_.tls) co_return;
    // RFC 3207 section 4 / STYLE rule 6: what came after STARTTLS is
    // dropped, never read as a command of the TLS session.
    reader_.discard();
    TlsSocket tls(socket, *ctx_.tls);
    arm(limits::tls_handshake_timeout);
    auto [ec, n] = co_await tls.async_handshake(use_tuple);
    if (ec) {
      core::log_info(fmt::format("smtp={} event=tls_failed error=\"{}\"", id, ec.message()));
      co_return;
    }
    session_.tls_started();
    co_await loop(tls);
    arm(limits::tls_shutdown_timeout);
    co_await tls.async_shutdown(use_tuple);
  }

 private:
  static smtp::SessionOptions options(const SmtpContext& ctx) {
    smtp::SessionOptions o = ctx.options;
    o.starttls_available = ctx.tls != nullptr;
    return o;
  }

  template <class Stream>
  asio::awaitable<Outcome> loop(Stream& stream) {
    for (;;) {
      // Answer pipelined lines in order; write first whenever the output
      // reached its bound (a peer that never reads costs that much at most).
      std::string_view line;
      for (;;) {
        if (out_.size() >= limits::max_pending_output && !co_await flush(stream)) {
          co_return Outcome::closed;
        }
        auto r = reader_.next(line);
        if (r == core::LineReader::Result::need_more) break;
        smtp::Step step = r == core::LineReader::Result::too_long ? session_.on_line_too_long(out_)
                                                                  : session_.on_line(line, out_);
        Outcome outcome = Outcome::closed;
        if (!co_await act(stream, step, outcome)) {
          bool ok = co_await flush(stream);
          co_return ok ? outcome : Outcome::closed;
        }
      }
      if (!co_await flush(stream)) co_return Outcome::closed;
      if (stop_requested) {
        out_ = "421 4.3.2 Server shutting down\r\n";
        co_await flush(stream);
        co_return Outcome::closed;
      }
      if (!co_await read_more(stream, true)) co_return Outcome::closed;
    }
  }

  asio::awaitable<void> pause(std::chrono::milliseconds delay) {
    if (delay.count() <= 0) co_return;
    asio::steady_timer timer(socket.get_executor());
    timer.expires_after(std::min(delay, limits::max_fault_delay));
    co_await timer.async_wait(use_tuple);
  }

  // Returns false when the loop must end (`outcome` says how).
  template <class Stream>
  asio::awaitable<bool> act(Stream& stream, smtp::Step& step, Outcome& outcome) {
    using Action = smtp::Step::Action;
    switch (step.action) {
      case Action::none:
        co_return true;
      case Action::close:
        outcome = Outcome::closed;
        co_return false;
      case Action::start_tls:
        outcome = Outcome::start_tls;
        co_return false;
      case Action::check_auth: {
        smtp::Backend* backend = &ctx_.backend;
        std::string user = step.user;
        std::string password = std::move(step.password);
        bool ok = co_await run_blocking(ctx_.pool, [backend, &user, &password] {
          return backend->check_credentials(user, password);
        });
        OPENSSL_cleanse(password.data(), password.size());
        core::log_info(fmt::format("smtp={} event=auth user={} result={}", id,
                                   core::log_escape(user), ok ? "ok" : "failed"));
        smtp::Step next = session_.auth_checked(ok, out_);
        co_return co_await act(stream, next, outcome);
      }
      case Action::check_sender: {
        smtp::Decision d = ctx_.backend.on_mail(step.address, step.user);
        co_await pause(d.delay);
        session_.sender_checked(d.refusal, out_);
        co_return true;
      }
      case Action::check_recipient: {
        smtp::Decision d = ctx_.backend.on_rcpt(step.address, step.user);
        co_await pause(d.delay);
        session_.recipient_checked(d.refusal, out_);
        co_return true;
      }
      case Action::receive_data: {
        if (!co_await flush(stream)) co_return false;
        bool too_big = false;
        if (!co_await receive_body(stream, too_big)) co_return false;
        smtp::Step next = session_.data_received(too_big, out_);
        co_return co_await act(stream, next, outcome);
      }
      case Action::deliver:
        co_await deliver(step.user);
        co_return true;
    }
    co_return true;
  }

  // Reads the dot-stuffed body into the spool; bytes after the terminating
  // line stay in the line reader (pipelined commands).
  template <class Stream>
  asio::awaitable<bool> receive_body(Stream& stream, bool& too_big) {
    core::DotDecoder decoder;
    spool_.clear();
    std::string chunk;
    const std::uint64_t max = ctx_.options.max_message_size;
    auto take = [&](std::string_view data) {
      chunk.clear();
      std::size_t used = decoder.decode(data, chunk);
      if (!too_big && spool_.size() + chunk.size() > max) {
        too_big = true;  // read on to the terminator, store nothing
        spool_.clear();
      }
      if (!too_big && spool_.append(chunk)) too_big = true;
      return used;
    };
    reader_.consume(take(reader_.buffered_data()));
    while (!decoder.done()) {
      if (!co_await read_more(stream, false)) co_return false;
      reader_.consume(take(reader_.buffered_data()));
    }
    co_return true;
  }

  asio::awaitable<void> deliver(const std::string& user) {
    smtp::Decision d = ctx_.backend.on_data(session_.recipients(), user);
    co_await pause(d.delay);
    smtp::Delivered result;
    if (!d.refusal.empty()) {
      result.refusal = d.refusal;
    } else {
      smtp::Backend* backend = &ctx_.backend;
      const std::string& sender = session_.sender();
      const std::vector<std::string>& rcpts = session_.recipients();
      const core::Spool* body = &spool_;
      result = co_await run_blocking(ctx_.pool, [backend, &sender, &rcpts, body] {
        return backend->deliver(sender, rcpts, *body);
      });
    }
    core::log_info(fmt::format(
        "smtp={} event=deliver from=<{}> rcpts={} size={} result={}", id,
        core::log_escape(session_.sender()), session_.recipients().size(), spool_.size(),
        result.refusal.empty() ? "ok id=" + result.queue_id
                               : "refused reply=\"" + core::log_escape(result.refusal) + "\""));
    session_.delivered(result.refusal, result.queue_id, out_);
    spool_.clear();
  }

  template <class Stream>
  asio::awaitable<bool> read_more(Stream& stream, bool is_idle) {
    arm(smtp_timeout);
    idle = is_idle;
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(buf_), use_tuple);
    idle = false;
    if (ec) co_return false;
    reader_.feed(std::string_view(buf_.data(), n));
    co_return true;
  }

  template <class Stream>
  asio::awaitable<bool> flush(Stream& stream) {
    if (out_.empty()) co_return true;
    arm(smtp_timeout);
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(out_), use_tuple);
    out_.clear();
    if (out_.capacity() > limits::retained_buffer) std::string().swap(out_);
    co_return !ec;
  }

  SmtpContext& ctx_;
  smtp::Session session_;
  core::LineReader reader_;
  core::Spool spool_;
  std::string out_;
  std::array<char, limits::smtp_read_block> buf_;
};

}  // namespace

asio::awaitable<void> serve_smtp(tcp::socket socket, SmtpContext& ctx, ConnectionSet& set) {
  std::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  auto conn = std::make_shared<SmtpConnection>(std::move(socket), set, ctx);
  conn->id = ctx.next_id.fetch_add(1);
  conn->peer = ec ? "unknown" : fmt::format("{}:{}", remote.address().to_string(), remote.port());
  core::log_info(fmt::format("smtp={} event=connect peer={}", conn->id, conn->peer));
  conn->arm(smtp_timeout);
  SmtpConnection::start_watchdog(conn);
  co_await conn->serve();
  core::log_info(fmt::format("smtp={} event=disconnect peer={} result={}", conn->id, conn->peer,
                             conn->timed_out ? "timeout" : "closed"));
  conn->finish();
}

}  // namespace popbox::net
