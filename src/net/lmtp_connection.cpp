#include "net/lmtp_connection.hpp"

#include <fmt/format.h>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

#include "core/dot_codec.hpp"
#include "core/limits.hpp"
#include "core/line_reader.hpp"
#include "core/log.hpp"
#include "core/spool.hpp"
#include "lmtp/session.hpp"
#include "metrics/server_metrics.hpp"
#include "net/blocking.hpp"
#include "net/server_state.hpp"
#include "net/watched_socket.hpp"

namespace popbox::net {
namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
using limits::lmtp_timeout;

template <class Socket>
class LmtpConnection final : public WatchedSocket<Socket> {
 public:
  LmtpConnection(Socket s, ConnectionSet& set, ServerState& st, lmtp::LocalDelivery& delivery)
      : WatchedSocket<Socket>(std::move(s), set),
        st_(st),
        delivery_(delivery),
        session_(options(st)),
        reader_(limits::max_line) {}

  std::uint64_t id = 0;
  std::string peer;

  asio::awaitable<void> run() {
    session_.greeting(out_);
    for (;;) {
      // Answer the pipelined lines in order, but write the output first
      // whenever it has reached its bound: nothing more is read or answered
      // while a peer that does not read leaves it pending.
      std::string_view line;
      for (;;) {
        if (out_.size() >= limits::max_pending_output && !co_await flush()) co_return;
        auto r = reader_.next(line);
        if (r == core::LineReader::Result::need_more) break;
        lmtp::Step step = r == core::LineReader::Result::too_long ? session_.on_line_too_long(out_)
                                                                  : session_.on_line(line, out_);
        if (!co_await act(step)) {
          co_await flush();
          co_return;
        }
      }
      if (!co_await flush()) co_return;
      if (this->stop_requested) {
        out_ = "421 4.3.2 Server shutting down\r\n";
        co_await flush();
        co_return;
      }
      if (!co_await read_more(true)) co_return;
    }
  }

 private:
  static lmtp::SessionOptions options(const ServerState& st) {
    lmtp::SessionOptions o;
    o.hostname = st.cfg.server.hostname;
    o.max_message_size = st.cfg.lmtp.max_message_size;
    o.quota_temporary = st.cfg.quota.temporary;
    return o;
  }

  // Returns false when the connection must close.
  asio::awaitable<bool> act(lmtp::Step& step) {
    using Action = lmtp::Step::Action;
    switch (step.action) {
      case Action::none:
        co_return true;
      case Action::close:
        co_return false;
      case Action::check_recipient: {
        lmtp::LocalDelivery* delivery = &delivery_;
        std::string address = step.address;
        std::uint64_t hint = step.size_hint;
        struct Lookup {
          lmtp::RcptStatus status;
          lmtp::Recipient rcpt;
          std::string detail;
        };
        auto work = [delivery, &address, hint] {
          Lookup l;
          l.status = delivery->resolve(address, hint, l.rcpt, l.detail);
          return l;
        };
        Lookup l = co_await run_blocking(st_.pool, std::move(work));
        if (l.status == lmtp::RcptStatus::ok) accepted_.push_back(std::move(l.rcpt));
        if (l.status != lmtp::RcptStatus::ok) {
          core::log_info(fmt::format("lmtp={} event=rcpt_refused rcpt=<{}> reason=\"{}\"", id,
                                     core::log_escape(address), l.detail));
        }
        metrics::server().lmtp_recipient(l.status);
        session_.recipient_checked(l.status, out_);
        co_return true;
      }
      case Action::receive_data: {
        if (!co_await flush()) co_return false;
        bool too_big = false;
        if (!co_await receive_body(too_big)) co_return false;
        lmtp::Step next = session_.data_received(too_big, out_);
        if (too_big) accepted_.clear();
        co_return co_await act(next);
      }
      case Action::deliver:
        co_await deliver();
        co_return true;
    }
    co_return true;
  }

  // Reads the dot-stuffed body into the spool; the bytes after the
  // terminating line stay in the line reader (pipelined commands).
  asio::awaitable<bool> receive_body(bool& too_big) {
    core::DotDecoder decoder;
    spool_.clear();
    std::string chunk;
    const std::uint64_t max = st_.cfg.lmtp.max_message_size;
    auto take = [&](std::string_view data) {
      chunk.clear();
      std::size_t used = decoder.decode(data, chunk);
      if (!too_big && spool_.size() + chunk.size() > max) {
        too_big = true;  // keep reading to the terminator, store nothing
        spool_.clear();
      }
      if (!too_big && spool_.append(chunk)) too_big = true;
      return used;
    };
    reader_.consume(take(reader_.buffered_data()));
    while (!decoder.done()) {
      if (!co_await read_more(false)) co_return false;
      reader_.consume(take(reader_.buffered_data()));
    }
    co_return true;
  }

  asio::awaitable<void> deliver() {
    lmtp::LocalDelivery* delivery = &delivery_;
    const std::string& sender = session_.sender();
    const core::Spool* message = &spool_;
    std::vector<lmtp::Recipient>* rcpts = &accepted_;
    std::uint64_t session_id = id;
    auto work = [delivery, &sender, message, rcpts, session_id] {
      // One delivery for every recipient: the store may keep the body once.
      auto done = delivery->deliver(*rcpts, sender, *message, lmtp::LineEnds::crlf);
      std::vector<lmtp::RcptStatus> results;
      for (std::size_t i = 0; i < done.size(); ++i) {
        const lmtp::Recipient& r = (*rcpts)[i];
        results.push_back(done[i].status);
        core::log_info(fmt::format(
            "lmtp={} event=deliver from=<{}> rcpt=<{}> user={} size={} result={}{}", session_id,
            core::log_escape(sender), core::log_escape(r.address), core::log_escape(r.user),
            message->size(), done[i].status == lmtp::RcptStatus::ok ? "ok" : "failed",
            done[i].detail.empty() ? "" : " reason=\"" + done[i].detail + "\""));
      }
      return results;
    };
    std::vector<lmtp::RcptStatus> results = co_await run_blocking(st_.pool, std::move(work));
    for (auto r : results) metrics::server().lmtp_delivery(r);
    session_.delivered(results, out_);
    accepted_.clear();
    spool_.clear();
  }

  asio::awaitable<bool> read_more(bool idle) {
    this->arm(lmtp_timeout);
    this->idle = idle;
    auto [ec, n] = co_await this->socket.async_read_some(asio::buffer(buf_), use_tuple);
    this->idle = false;
    if (ec) co_return false;
    metrics::server().lmtp_bytes(n, 0);
    reader_.feed(std::string_view(buf_.data(), n));
    co_return true;
  }

  asio::awaitable<bool> flush() {
    if (out_.empty()) co_return true;
    this->arm(lmtp_timeout);
    auto [ec, n] = co_await asio::async_write(this->socket, asio::buffer(out_), use_tuple);
    metrics::server().lmtp_bytes(0, n);
    out_.clear();
    if (out_.capacity() > limits::retained_buffer) std::string().swap(out_);
    co_return !ec;
  }

  ServerState& st_;
  lmtp::LocalDelivery& delivery_;
  lmtp::Session session_;
  core::LineReader reader_;
  core::Spool spool_;
  std::vector<lmtp::Recipient> accepted_;
  std::string out_;
  std::array<char, limits::lmtp_read_block> buf_;
};

template <class Socket>
asio::awaitable<void> serve(Socket socket, std::string peer, ServerState& st, ConnectionSet& set,
                            lmtp::LocalDelivery& delivery) {
  auto conn = std::make_shared<LmtpConnection<Socket>>(std::move(socket), set, st, delivery);
  metrics::ServerMetrics::OpenSession open(metrics::server(), metrics::Listener::lmtp);
  conn->id = st.next_session_id.fetch_add(1);
  conn->peer = std::move(peer);
  core::log_info(fmt::format("lmtp={} event=connect peer={}", conn->id, conn->peer));
  conn->arm(lmtp_timeout);
  LmtpConnection<Socket>::start_watchdog(conn);
  co_await conn->run();
  core::log_info(fmt::format("lmtp={} event=disconnect peer={} result={}", conn->id, conn->peer,
                             conn->timed_out ? "timeout" : "closed"));
  metrics::server().lmtp_ended(conn->timed_out);
  conn->finish();
}

}  // namespace

asio::awaitable<void> serve_lmtp(asio::ip::tcp::socket socket, ServerState& st, ConnectionSet& set,
                                 lmtp::LocalDelivery& delivery) {
  std::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  std::string peer =
      ec ? "unknown" : fmt::format("{}:{}", remote.address().to_string(), remote.port());
  return serve(std::move(socket), std::move(peer), st, set, delivery);
}

asio::awaitable<void> serve_lmtp(asio::local::stream_protocol::socket socket, ServerState& st,
                                 ConnectionSet& set, lmtp::LocalDelivery& delivery) {
  return serve(std::move(socket), std::string("unix"), st, set, delivery);
}

}  // namespace popbox::net
