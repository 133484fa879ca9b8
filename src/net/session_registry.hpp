#pragma once
// The live POP3 sessions, for `popbox who` and `popbox kick`. Each event
// thread has a registry of its own, touched only on that thread: a session
// registers and deregisters without a lock, and the admin socket visits every
// event thread in turn (posting to its executor) to list or kick.

#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/limits.hpp"
#include "net/watched_socket.hpp"

typedef struct ssl_st SSL;

namespace popbox::pop3 {
class Session;
}

namespace popbox::net {

/// What `popbox who` shows of one session: a copy, safe to send anywhere.
struct SessionInfo {
  std::uint64_t id = 0;  ///< the `session=` id of its log lines
  std::string user;      ///< "" before login
  std::string peer;
  std::string proto;       ///< the listener: "pop3" or "pop3s"
  std::string tls;         ///< "TLSv1.3" etc., "" for none
  std::string state;       ///< "authorization", "transaction", "update"
  std::int64_t since = 0;  ///< connect time, seconds since the epoch
  std::uint64_t bytes_in = 0, bytes_out = 0;
};

class SessionRegistry;

/// One registered session; lives in its connection, registered from start()
/// until it is destroyed. Only the session's event thread touches it.
class SessionRecord {
 public:
  SessionRecord() = default;
  ~SessionRecord();
  SessionRecord(const SessionRecord&) = delete;
  SessionRecord& operator=(const SessionRecord&) = delete;

  /// Registers the session with this thread's registry. The referenced
  /// objects must outlive the record.
  void start(std::uint64_t id, const std::string& peer, bool implicit_tls,
             const pop3::Session& session, WatchedSocket<asio::ip::tcp::socket>& conn,
             const std::uint64_t& bytes_in, const std::uint64_t& bytes_out);
  /// Records the TLS version once a handshake on the session succeeded.
  void tls_started(SSL* ssl);
  /// Ends the session without UPDATE: an idle one at once (and it says so),
  /// a busy one once its current command is answered.
  void kick();
  /// True once kick() was called.
  bool kicked() const noexcept { return kicked_; }
  /// A copy of what `who` shows.
  SessionInfo info() const;

  std::uint64_t id() const noexcept { return id_; }
  /// The logged-in user, "" before login.
  const std::string& user() const;

 private:
  std::uint64_t id_ = 0;
  const std::string* peer_ = nullptr;
  bool implicit_tls_ = false;
  const char* tls_ = nullptr;  // a static string of OpenSSL's
  const pop3::Session* session_ = nullptr;
  WatchedSocket<asio::ip::tcp::socket>* conn_ = nullptr;
  const std::uint64_t* bytes_in_ = nullptr;
  const std::uint64_t* bytes_out_ = nullptr;
  std::int64_t since_ = 0;
  bool kicked_ = false;
  SessionRegistry* registry_ = nullptr;  // where it is registered
};

/// The sessions of one event thread.
class SessionRegistry {
 public:
  /// The registry of the calling thread.
  static SessionRegistry& this_thread();
  /// Lists this thread's sessions, ordered by id.
  std::vector<SessionInfo> list() const;
  /// Kicks the sessions (not kicked before) `match` accepts; returns how many.
  std::size_t kick_if(const std::function<bool(const SessionRecord&)>& match);
  /// How many sessions this thread has.
  std::size_t size() const noexcept { return live_.size(); }

 private:
  friend class SessionRecord;
  std::unordered_map<std::uint64_t, SessionRecord*> live_;
};

/// The reply a kicked session gets before the connection closes (RFC 2449
/// response code: the client may reconnect later).
inline constexpr std::string_view kicked_reply =
    "-ERR [SYS/TEMP] Session ended by the administrator.\r\n";

/// After a kick ended an idle session: says why, if the link still lets us
/// write (limits::goodbye_timeout bounds the attempt).
template <class Conn, class Stream>
asio::awaitable<void> kicked_goodbye(Conn& conn, const SessionRecord& record, Stream& stream) {
  if (!record.kicked() || !conn.socket.is_open() || conn.stop_requested) co_return;
  conn.arm(limits::goodbye_timeout);
  co_await asio::async_write(stream, asio::buffer(kicked_reply),
                             asio::experimental::as_tuple(asio::use_awaitable));
}

}  // namespace popbox::net
