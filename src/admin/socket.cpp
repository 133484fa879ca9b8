#include "admin/socket.hpp"

#include <fmt/format.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/limits.hpp"
#include "core/log.hpp"

namespace popbox::admin {

using asio::local::stream_protocol;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

namespace {

Peer peer_of(stream_protocol::socket& s) {
  Peer p;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(s.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    p.pid = cred.pid;
    p.uid = cred.uid;
    p.gid = cred.gid;
  }
  return p;
}

// When `timer` expires: cancels what `s` waits for (the request read, so
// the client still gets an error reply), or closes it (`close`).
asio::awaitable<void> watchdog(asio::steady_timer& timer, stream_protocol::socket& s, bool close) {
  auto [ec] = co_await timer.async_wait(use_tuple);
  if (ec) co_return;
  std::error_code ignored;
  if (close) {
    s.close(ignored);
  } else {
    s.cancel(ignored);
  }
}

}  // namespace

Socket::Socket(asio::io_context& context, std::string path)
    : context_(context), path_(std::move(path)), acceptor_(context) {
  if (path_.empty() || path_.front() != '/') {
    throw std::runtime_error(fmt::format("[admin] socket must be an absolute path: {}", path_));
  }
  auto dir = std::filesystem::path(path_).parent_path();
  std::error_code fs_ec;
  if (!std::filesystem::exists(dir, fs_ec)) {
    std::filesystem::create_directories(dir, fs_ec);
    if (fs_ec) {
      throw std::runtime_error(
          fmt::format("cannot create the directory of {}: {}", path_, fs_ec.message()));
    }
    ::chmod(dir.c_str(), 0755);
    created_dir_ = dir.string();
  }
  // A socket left by a previous run would make bind() fail; remove it only
  // if it is a socket, never a regular file someone put there.
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path_.c_str());
  std::error_code ec;
  stream_protocol::endpoint endpoint(path_);
  // Made with no access for others from the start (no window before chmod).
  const mode_t old_mask = ::umask(0117);
  if (acceptor_.open(endpoint.protocol(), ec) || acceptor_.bind(endpoint, ec) ||
      acceptor_.listen(asio::socket_base::max_listen_connections, ec)) {
    ::umask(old_mask);
    throw std::runtime_error(fmt::format("cannot listen on {}: {}", path_, ec.message()));
  }
  ::umask(old_mask);
  ::chmod(path_.c_str(), 0660);
  core::log_info(fmt::format("event=listening proto=admin address=unix:{}", path_));
}

Socket::~Socket() {
  close();
}

void Socket::set_owner(uid_t uid, gid_t gid, const std::string& group) {
  if (!group.empty()) {
    std::vector<char> buf(limits::account_lookup_buffer);
    struct group gr {};
    struct group* found = nullptr;
    if (::getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || !found) {
      throw std::runtime_error(fmt::format("[admin] group: no group '{}'", group));
    }
    gid = found->gr_gid;
  }
  if (::lchown(path_.c_str(), uid, gid) != 0) {
    throw std::runtime_error(
        fmt::format("cannot give {} to uid {} gid {}: {}", path_, uid, gid, std::strerror(errno)));
  }
  if (!created_dir_.empty() && ::lchown(created_dir_.c_str(), uid, static_cast<gid_t>(-1)) != 0) {
    throw std::runtime_error(fmt::format("cannot give {} to uid {}", created_dir_, uid));
  }
}

void Socket::start(Handler handler) {
  handler_ = std::move(handler);
  asio::co_spawn(context_, accept_loop(), asio::detached);
}

void Socket::close() {
  if (closed_) return;
  closed_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path_.c_str());
}

asio::awaitable<void> Socket::accept_loop() {
  while (!closed_) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (closed_) break;
    if (ec) {
      core::log_warn(fmt::format("event=accept_failed proto=admin error=\"{}\"", ec.message()));
      asio::steady_timer pause(context_, limits::accept_backoff);
      co_await pause.async_wait(use_tuple);
      continue;
    }
    asio::co_spawn(context_, serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> Socket::serve(stream_protocol::socket socket) {
  auto active = active_;  // the counter outlives this Socket's close()
  struct Slot {
    std::atomic<std::size_t>& n;
    ~Slot() { --n; }
  } slot{*active};
  const std::size_t before = active->fetch_add(1);
  const Peer peer = peer_of(socket);
  asio::steady_timer deadline(context_);
  deadline.expires_after(limits::admin_request_timeout);
  asio::co_spawn(context_, watchdog(deadline, socket, false), asio::detached);
  Reply reply;
  std::string what = "-";
  if (before >= limits::admin_max_connections) {
    reply.line = error_reply("too many admin connections");
    what = "busy";
  } else {
    std::string buf;
    auto [ec, n] = co_await asio::async_read_until(
        socket, asio::dynamic_buffer(buf, limits::admin_max_request + 1), '\n', use_tuple);
    std::string error;
    if (ec == asio::error::not_found) {
      reply.line = error_reply("request too long");
    } else if (ec && ec != asio::error::eof) {
      reply.line = error_reply("no complete request in time");
    } else {
      // A request ends at its newline, or where the client shut down writing.
      std::string_view line(buf.data(), ec ? buf.size() : n - 1);
      if (auto req = parse_request(line, error)) {
        what = verb_name(req->verb);
        // The reply may take long (expunge): no deadline until it is written.
        deadline.cancel();
        reply = co_await handler_(*req, peer);
      } else {
        reply.line = error_reply(error);
      }
    }
  }
  core::log_info(fmt::format("event=admin_request uid={} pid={} verb={} result={}", peer.uid,
                             peer.pid, what, reply.ok ? "ok" : "error"));
  if (socket.is_open()) {
    deadline.expires_after(limits::admin_reply_timeout);
    asio::co_spawn(context_, watchdog(deadline, socket, true), asio::detached);
    co_await asio::async_write(socket, asio::buffer(reply.line), use_tuple);
  }
  // Closing with unread input would reset the connection, and the client
  // might lose the reply: read what is left (a refused request's tail) up
  // to EOF, within the request deadline.
  std::error_code ignored;
  socket.shutdown(stream_protocol::socket::shutdown_send, ignored);
  if (socket.is_open()) {
    deadline.expires_after(limits::admin_request_timeout);
    asio::co_spawn(context_, watchdog(deadline, socket, true), asio::detached);
    std::array<char, 4096> sink;
    for (;;) {
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(sink), use_tuple);
      if (ec) break;
    }
  }
  deadline.cancel();
  socket.close(ignored);
}

}  // namespace popbox::admin
