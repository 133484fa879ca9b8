#include "net/tls_socket.hpp"

#include <openssl/err.h>

#include <asio/ssl/error.hpp>
#include <cerrno>
#include <climits>
#include <new>

namespace popbox::net {

TlsSocket::TlsSocket(asio::ip::tcp::socket& socket, asio::ssl::context& ctx)
    : socket_(socket), ssl_(SSL_new(ctx.native_handle())) {
  if (!ssl_) throw std::bad_alloc();
  // Writes may end after any whole record (async_write goes on from there)
  // and resume from a buffer that moved.
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // The socket BIO does not own the descriptor: the socket closes it.
  if (SSL_set_fd(ssl_, static_cast<int>(socket.native_handle())) != 1) {
    SSL_free(ssl_);
    throw std::bad_alloc();
  }
  SSL_set_accept_state(ssl_);
  std::error_code ignored;
  socket.non_blocking(true, ignored);
}

TlsSocket::~TlsSocket() {
  SSL_free(ssl_);
}

TlsSocket::Want TlsSocket::result(int r, std::error_code& ec) {
  const int saved_errno = errno;
  const int err = SSL_get_error(ssl_, r);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      return Want::read;
    case SSL_ERROR_WANT_WRITE:
      return Want::write;
    case SSL_ERROR_ZERO_RETURN:  // the peer's close_notify
      ec = asio::error::eof;
      break;
    case SSL_ERROR_SYSCALL:
      failed_ = true;
      ec = saved_errno ? std::error_code(saved_errno, asio::error::get_system_category())
                       : std::error_code(asio::error::eof);
      break;
    default: {
      failed_ = true;
      const unsigned long e = ERR_peek_last_error();
      if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ec = asio::ssl::error::stream_truncated;  // closed without close_notify
      } else if (e != 0) {
        ec = std::error_code(static_cast<int>(e), asio::error::get_ssl_category());
      } else {
        ec = asio::ssl::error::unspecified_system_error;
      }
    }
  }
  // The error queue belongs to the thread, which serves other connections.
  ERR_clear_error();
  return Want::done;
}

TlsSocket::Want TlsSocket::read_once(std::span<char> buf, std::size_t& n, std::error_code& ec) {
  n = 0;
  if (failed_) {
    ec = asio::error::broken_pipe;
    return Want::done;
  }
  ERR_clear_error();
  errno = 0;
  const int r = SSL_read_ex(ssl_, buf.data(), buf.size(), &n);
  if (r == 1) return Want::done;
  return result(r, ec);
}

TlsSocket::Want TlsSocket::write_once(std::span<const char> buf, std::size_t& n,
                                      std::error_code& ec) {
  n = 0;
  if (buf.empty()) return Want::done;
  if (failed_) {
    ec = asio::error::broken_pipe;
    return Want::done;
  }
  ERR_clear_error();
  errno = 0;
  const int r = SSL_write_ex(ssl_, buf.data(), buf.size(), &n);
  if (r == 1) return Want::done;
  return result(r, ec);
}

TlsSocket::Want TlsSocket::handshake_once(std::error_code& ec) {
  ERR_clear_error();
  errno = 0;
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) return Want::done;
  return result(r, ec);
}

TlsSocket::Want TlsSocket::shutdown_once(std::error_code& ec) {
  // After a fatal error OpenSSL forbids SSL_shutdown: just close.
  if (failed_ || !SSL_is_init_finished(ssl_)) return Want::done;
  ERR_clear_error();
  errno = 0;
  const int r = SSL_shutdown(ssl_);
  if (r == 1) return Want::done;
  // 0: our close_notify is out; the next call takes the peer's.
  if (r == 0) return Want::read;
  Want want = result(r, ec);
  if (want == Want::done && ec == asio::error::eof) ec = {};
  return want;
}

}  // namespace popbox::net
