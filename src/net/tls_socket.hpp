#pragma once
// A server-side TLS stream over a TCP socket that OpenSSL reads and writes
// itself (a socket BIO), instead of asio::ssl::stream's memory BIO pair.
// Nothing sits between OpenSSL and the kernel: no 4 x 17 KiB of stream and
// BIO-pair buffers per connection, one copy fewer each way, and with
// SSL_MODE_RELEASE_BUFFERS an idle connection holds no record buffer
// either (it waits for readability before it reads). Satisfies Asio's
// AsyncReadStream/AsyncWriteStream, so asio::async_write works on it.

#include <openssl/ssl.h>

#include <asio/compose.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/ssl/context.hpp>
#include <cstddef>
#include <span>
#include <system_error>

namespace popbox::net {

class TlsSocket {
 public:
  using executor_type = asio::ip::tcp::socket::executor_type;
  /// What one non-blocking attempt needs before it can go on.
  enum class Want { done, read, write };

  /// A server session on `socket` (which must outlive it) with `ctx`'s
  /// settings; throws std::bad_alloc when OpenSSL cannot allocate it.
  TlsSocket(asio::ip::tcp::socket& socket, asio::ssl::context& ctx);
  ~TlsSocket();
  TlsSocket(const TlsSocket&) = delete;
  TlsSocket& operator=(const TlsSocket&) = delete;

  /// The executor of the socket (Asio's stream requirements).
  executor_type get_executor() { return socket_.get_executor(); }
  /// The OpenSSL session (channel binding, SSL_sendfile).
  SSL* native_handle() const noexcept { return ssl_; }
  /// The TCP socket underneath.
  asio::ip::tcp::socket& next_layer() noexcept { return socket_; }
  /// True when OpenSSL holds received bytes not yet returned by a read, so
  /// waiting for the socket to become readable could wait forever.
  bool has_pending() const noexcept { return SSL_has_pending(ssl_) == 1; }

  /// One attempt at reading decrypted bytes into `buf`, never blocking;
  /// `n` is what was read when the result is Want::done without error.
  Want read_once(std::span<char> buf, std::size_t& n, std::error_code& ec);
  /// One attempt at writing `buf` (possibly in part), never blocking.
  Want write_once(std::span<const char> buf, std::size_t& n, std::error_code& ec);
  /// One step of the server handshake.
  Want handshake_once(std::error_code& ec);
  /// One step of sending close_notify and taking the peer's.
  Want shutdown_once(std::error_code& ec);

  /// Reads some decrypted bytes: void(std::error_code, std::size_t).
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    asio::mutable_buffer b = first(buffers);
    std::span<char> buf(static_cast<char*>(b.data()), b.size());
    return run([this, buf](std::error_code& ec, std::size_t& n) { return read_once(buf, n, ec); },
               std::forward<Token>(token));
  }
  /// Writes some bytes (at least one TLS record's worth unless the peer is
  /// slow): void(std::error_code, std::size_t).
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    asio::const_buffer b = first(buffers);
    std::span<const char> buf(static_cast<const char*>(b.data()), b.size());
    return run([this, buf](std::error_code& ec, std::size_t& n) { return write_once(buf, n, ec); },
               std::forward<Token>(token));
  }
  /// The server handshake: void(std::error_code, std::size_t).
  template <class Token>
  auto async_handshake(Token&& token) {
    return run([this](std::error_code& ec, std::size_t&) { return handshake_once(ec); },
               std::forward<Token>(token));
  }
  /// close_notify both ways: void(std::error_code, std::size_t).
  template <class Token>
  auto async_shutdown(Token&& token) {
    return run([this](std::error_code& ec, std::size_t&) { return shutdown_once(ec); },
               std::forward<Token>(token));
  }

 private:
  template <class Buffers>
  static auto first(const Buffers& buffers) {
    auto it = asio::buffer_sequence_begin(buffers);
    auto end = asio::buffer_sequence_end(buffers);
    for (; it != end; ++it) {
      if (asio::buffer_size(*it) > 0) return *it;
    }
    return std::remove_cvref_t<decltype(*it)>();
  }

  // Repeats `step` until it is done, waiting for the socket in between. A
  // step that is done at once completes through a post, never inline.
  template <class Step, class Token>
  auto run(Step step, Token&& token) {
    return asio::async_compose<Token, void(std::error_code, std::size_t)>(
        [this, step, waited = false](auto& self, std::error_code wait_ec = {}) mutable {
          std::error_code ec = wait_ec;
          std::size_t n = 0;
          Want want = Want::done;
          if (!ec && !socket_.is_open()) ec = asio::error::bad_descriptor;
          if (!ec) want = step(ec, n);
          if (want == Want::done) {
            if (waited) {
              self.complete(ec, n);
            } else {
              auto ex = socket_.get_executor();
              asio::post(ex, [self = std::move(self), ec, n]() mutable { self.complete(ec, n); });
            }
            return;
          }
          waited = true;
          socket_.async_wait(want == Want::read ? asio::ip::tcp::socket::wait_read
                                                : asio::ip::tcp::socket::wait_write,
                             std::move(self));
        },
        token, socket_);
  }

  // Turns the result `r` of an SSL call into what to wait for or an error.
  Want result(int r, std::error_code& ec);

  asio::ip::tcp::socket& socket_;
  SSL* ssl_;
  bool failed_ = false;  // a fatal error happened: no more SSL calls but SSL_free
};

}  // namespace popbox::net
