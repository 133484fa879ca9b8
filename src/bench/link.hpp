#pragma once
// One load-generator connection: a TCP socket with a read deadline and a
// reader for POP3 reply lines and multi-line bodies. Internal to the bench.

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "bench/body_end.hpp"

namespace popbox::bench::detail {

using clock = std::chrono::steady_clock;
using asio::ip::tcp;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

/// A POP3 reply the scenario did not expect, with the step that got it.
struct ReplyError : std::runtime_error {
  ReplyError(std::string step_name, const std::string& reply)
      : std::runtime_error(reply), step(std::move(step_name)) {}
  std::string step;
};

/// The socket of one session and the deadline of the read in progress. A
/// watchdog closes the socket once the deadline passes, so no read waits
/// forever on a server that stopped answering.
struct Link {
  explicit Link(const asio::any_io_executor& ex) : socket(ex), timer(ex) {}

  /// Gives the next read until now + `timeout` (deadlines only move later).
  void expect_within(clock::duration timeout) {
    deadline = std::max(deadline, clock::now() + timeout);
  }

  /// When the watchdog acts: the read deadline, or the hard one if sooner.
  clock::time_point due() const { return std::min(deadline, hard_deadline); }

  tcp::socket socket;
  asio::steady_timer timer;
  clock::time_point deadline = clock::now();
  clock::time_point hard_deadline = clock::time_point::max();  ///< whatever is under way
  bool done = false;
  bool timed_out = false;  ///< the watchdog closed the socket
};

/// Closes `link`'s socket when its deadline passes; ends once done is set
/// and the timer cancelled.
inline asio::awaitable<void> watchdog(std::shared_ptr<Link> link) {
  while (!link->done) {
    link->timer.expires_at(link->due());
    co_await link->timer.async_wait(use_tuple);
    if (link->done) break;
    if (clock::now() >= link->due()) {
      link->timed_out = true;
      std::error_code ignored;
      link->socket.close(ignored);
      break;
    }
  }
}

/// Reads CRLF lines and multi-line bodies from `Stream` through one fixed
/// buffer; a body is scanned for its end in place, never copied.
template <class Stream>
class Reader {
 public:
  Reader(Stream& stream, Link& link, std::size_t buffer, clock::duration timeout)
      : stream_(stream), link_(link), buf_(buffer), timeout_(timeout) {}

  /// The next reply line without its CRLF.
  asio::awaitable<std::string> line() {
    for (;;) {
      std::string_view have(buf_.data() + begin_, end_ - begin_);
      if (auto pos = have.find("\r\n"); pos != std::string_view::npos) {
        std::string out(have.substr(0, pos));
        begin_ += pos + 2;
        co_return out;
      }
      if (begin_ == 0 && end_ == buf_.size()) throw std::runtime_error("reply line too long");
      co_await more();
    }
  }

  /// Consumes a multi-line body and its terminator; returns the body's
  /// octets as sent (dot-stuffed, without the final ".\r\n").
  asio::awaitable<std::uint64_t> body() {
    BodyEnd end;
    for (;;) {
      begin_ += end.scan(std::string_view(buf_.data() + begin_, end_ - begin_));
      if (end.done()) co_return end.octets();
      co_await more();
    }
  }

 private:
  // Reads more bytes after what is buffered, moving it to the front first.
  asio::awaitable<void> more() {
    if (begin_ == end_) {
      begin_ = end_ = 0;
    } else if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    link_.expect_within(timeout_);
    auto [ec, n] = co_await stream_.async_read_some(
        asio::buffer(buf_.data() + end_, buf_.size() - end_), use_tuple);
    if (ec) throw std::system_error(ec);
    end_ += n;
  }

  Stream& stream_;
  Link& link_;
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0;
  clock::duration timeout_;
};

}  // namespace popbox::bench::detail
