#include "net/pop3_connection.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ssl.hpp>

#include "core/dot_codec.hpp"
#include "core/limits.hpp"
#include "core/line_reader.hpp"
#include "core/log.hpp"
#include "net/blocking.hpp"
#include "net/server_state.hpp"
#include "net/watched_socket.hpp"
#include "pop3/session.hpp"

namespace popbox::net {

using asio::ip::tcp;
using std::chrono::steady_clock;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

namespace {

bool is_loopback(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
  }
  return a.is_loopback();
}

// The result of checking credentials and opening the maildrop, computed on
// the blocking pool.
struct LoginResult {
  pop3::LoginOutcome outcome = pop3::LoginOutcome::bad_credentials;
  std::unique_ptr<store::Mailbox> mailbox;
  std::string detail;  // for the log only
};

// A bearer token: valid, naming `user` (canonicalised like the login name),
// and `user` has an entry (it gives the mailbox). `detail` says why not.
auth::AuthResult verify_oauth(ServerState& st, const std::string& user, std::string_view token,
                              std::string& detail) {
  if (!st.oauth) return auth::AuthResult::bad_credentials;
  std::string claimed;
  if (auto ec = st.oauth->validate(token, claimed)) {
    detail = fmt::format("\"{}\"", ec.message());
    return auth::AuthResult::bad_credentials;
  }
  if (st.cfg.auth.canonical_user(claimed) != user) {
    detail = "\"token names another user\"";
    return auth::AuthResult::bad_credentials;
  }
  if (!st.auth.lookup(user)) {
    detail = "\"unknown user\"";
    return auth::AuthResult::bad_credentials;
  }
  return auth::AuthResult::ok;
}

LoginResult login_blocking(ServerState& st, const pop3::Credentials& creds,
                           const std::string& apop_timestamp) {
  using pop3::LoginOutcome;
  using Kind = pop3::Credentials::Kind;
  const std::string user = st.cfg.auth.canonical_user(creds.user);
  std::string detail;
  auth::AuthResult verdict =
      creds.kind == Kind::password ? st.auth.verify_password(user, creds.secret)
      : creds.kind == Kind::apop   ? st.auth.verify_apop(user, apop_timestamp, creds.secret)
                                   : verify_oauth(st, user, creds.secret, detail);
  if (verdict == auth::AuthResult::temp_failure) {
    return {LoginOutcome::temp_failure, nullptr, "user database unavailable"};
  }
  if (verdict != auth::AuthResult::ok) return {LoginOutcome::bad_credentials, nullptr, detail};
  if (auto delay = st.cfg.server.login_delay_seconds) {
    if (!st.login_delay.admit(user, std::chrono::seconds(*delay))) {
      return {LoginOutcome::login_delay, nullptr, ""};
    }
  }
  std::error_code ec;
  auto mailbox = st.store->open(user, ec);
  if (ec == store::store_errc::in_use) return {LoginOutcome::in_use, nullptr, ""};
  // Problems an operator must fix are permanent for the client (RFC 3206):
  // retrying will not help until then.
  if (ec == store::store_errc::bad_path || ec == std::errc::permission_denied ||
      ec == std::errc::operation_not_permitted || ec == std::errc::not_a_directory) {
    return {LoginOutcome::perm_failure, nullptr, ec.message()};
  }
  if (ec || !mailbox) return {LoginOutcome::temp_failure, nullptr, ec.message()};
  return {LoginOutcome::ok, std::move(mailbox), ""};
}

const char* outcome_name(pop3::LoginOutcome o) {
  switch (o) {
    case pop3::LoginOutcome::ok:
      return "ok";
    case pop3::LoginOutcome::bad_credentials:
      return "bad_credentials";
    case pop3::LoginOutcome::in_use:
      return "in_use";
    case pop3::LoginOutcome::login_delay:
      return "login_delay";
    case pop3::LoginOutcome::perm_failure:
      return "perm_failure";
    case pop3::LoginOutcome::temp_failure:
      break;
  }
  return "temp_failure";
}

}  // namespace

/// State of one POP3 connection shared by its coroutine and its watchdog.
class Connection final : public WatchedSocket<tcp::socket> {
 public:
  Connection(tcp::socket s, ServerState& st, ConnectionSet& set)
      : WatchedSocket(std::move(s), set), state(st) {}

  ServerState& state;
  std::uint64_t id = 0;
  std::string peer;
  std::string apop_timestamp;
  std::uint64_t bytes_in = 0, bytes_out = 0;
};

namespace {

enum class Outcome { closed, start_tls };

// Drives the session over one stream type (plain TCP or TLS).
class Driver {
 public:
  Driver(Connection& conn, pop3::Session& session, core::LineReader& reader)
      : conn_(conn), st_(conn.state), session_(session), reader_(reader) {}

  std::unique_ptr<store::Mailbox> mailbox;

  template <class Stream>
  asio::awaitable<Outcome> run(Stream& stream) {
    std::array<char, 16 * 1024> buf;
    for (;;) {
      // Answer every complete line already received (pipelining), in order.
      std::string_view line;
      for (;;) {
        auto r = reader_.next(line);
        if (r == core::LineReader::Result::need_more) break;
        pop3::Step step = r == core::LineReader::Result::too_long ? session_.on_line_too_long(out_)
                                                                  : session_.on_line(line, out_);
        auto outcome = co_await act(stream, step);
        if (outcome) co_return *outcome;
      }
      if (!co_await flush(stream)) co_return Outcome::closed;
      if (conn_.stop_requested) {
        out_ = "-ERR [SYS/TEMP] Server shutting down.\r\n";
        co_await flush(stream);
        co_return Outcome::closed;
      }
      conn_.arm(st_.cfg.server.idle_timeout);
      conn_.idle = true;
      auto [ec, n] = co_await stream.async_read_some(asio::buffer(buf), use_tuple);
      conn_.idle = false;
      if (ec) co_return Outcome::closed;
      conn_.bytes_in += n;
      reader_.feed(std::string_view(buf.data(), n));
    }
  }

 private:
  // Carries out what the session asked for; returns an outcome to end run().
  template <class Stream>
  asio::awaitable<std::optional<Outcome>> act(Stream& stream, pop3::Step& step) {
    using Action = pop3::Step::Action;
    switch (step.action) {
      case Action::none:
        co_return std::nullopt;
      case Action::close:
        co_await flush(stream);
        co_return Outcome::closed;
      case Action::start_tls:
        co_await flush(stream);
        co_return Outcome::start_tls;
      case Action::login:
        co_await login(step.credentials);
        co_return std::nullopt;
      case Action::stream:
        if (!co_await send_message(stream, step)) co_return Outcome::closed;
        co_return std::nullopt;
      case Action::commit: {
        bool ok = co_await commit();
        // Unlock before the reply: a client that saw +OK may reconnect at once.
        mailbox.reset();
        session_.commit_done(ok, out_);
        co_await flush(stream);
        co_return Outcome::closed;
      }
    }
    co_return std::nullopt;
  }

  asio::awaitable<void> login(pop3::Credentials& creds) {
    ServerState& st = st_;
    const std::string* ts = &conn_.apop_timestamp;
    auto work = [&st, &creds, ts] { return login_blocking(st, creds, *ts); };
    LoginResult result = co_await run_blocking(st_.pool, std::move(work));
    OPENSSL_cleanse(creds.secret.data(), creds.secret.size());
    core::log_info(fmt::format("session={} event=login user={} result={}{}{}", conn_.id, creds.user,
                               outcome_name(result.outcome),
                               result.detail.empty() ? "" : " detail=", result.detail));
    if (result.outcome == pop3::LoginOutcome::bad_credentials) {
      // Like Dovecot's auth_failure_delay: slows down guessing, and an
      // unknown user looks exactly like a wrong password.
      asio::steady_timer delay(conn_.socket.get_executor(), st_.cfg.auth.failure_delay);
      co_await delay.async_wait(use_tuple);
    }
    mailbox = std::move(result.mailbox);
    session_.login_done(result.outcome, mailbox ? &mailbox->messages() : nullptr, out_);
  }

  template <class Stream>
  asio::awaitable<bool> send_message(Stream& stream, const pop3::Step& step) {
    struct Read {
      std::unique_ptr<store::MessageReader> reader;
      std::size_t n = 0;
      std::error_code ec;
    };
    chunk_.resize(limits::message_chunk);
    store::Mailbox* mb = mailbox.get();
    std::span<char> chunk(chunk_);
    // Opening and the first read share one trip to the pool: most messages
    // fit in one chunk.
    auto open_and_read = [mb, index = step.message, chunk] {
      Read r;
      r.reader = mb->open(index, r.ec);
      if (r.reader) r.n = r.reader->read(chunk, r.ec);
      return r;
    };
    Read r = co_await run_blocking(st_.pool, std::move(open_and_read));
    if (!r.reader || (r.ec && r.n == 0)) {
      core::log_warn(fmt::format("session={} event=retr_failed user={} message={} error=\"{}\"",
                                 conn_.id, session_.user(), step.message + 1, r.ec.message()));
      session_.stream_failed(out_);
      co_return true;
    }
    session_.stream_opened(out_);
    core::DotEncoder encoder =
        step.top_lines ? core::DotEncoder(*step.top_lines) : core::DotEncoder();
    while (r.n > 0) {
      bool more = encoder.encode(std::string_view(chunk_.data(), r.n), out_);
      if (out_.size() >= limits::message_chunk && !co_await flush(stream)) co_return false;
      if (!more) break;
      store::MessageReader* reader = r.reader.get();
      auto read_more = [reader, chunk] {
        std::error_code ec;
        std::size_t n = reader->read(chunk, ec);
        return std::pair{n, ec};
      };
      auto [n, ec] = co_await run_blocking(st_.pool, std::move(read_more));
      if (ec) {
        // Part of the message is already on the wire: the only honest
        // thing left is to drop the connection (nothing gets deleted).
        core::log_error(fmt::format("session={} event=read_error user={} message={} error=\"{}\"",
                                    conn_.id, session_.user(), step.message + 1, ec.message()));
        co_return false;
      }
      r.n = n;
    }
    encoder.finish(out_);
    co_return true;
  }

  asio::awaitable<bool> commit() {
    std::vector<std::size_t> deleted = session_.commit_deleted();
    std::vector<std::size_t> retrieved = session_.commit_retrieved();
    store::Mailbox* mb = mailbox.get();
    std::error_code ec = co_await run_blocking(
        st_.pool, [mb, &deleted, &retrieved] { return mb->commit(deleted, retrieved); });
    core::log_info(fmt::format("session={} event=commit user={} deleted={} seen={} result={}",
                               conn_.id, session_.user(), deleted.size(), retrieved.size(),
                               ec ? ec.message() : "ok"));
    co_return !ec;
  }

  template <class Stream>
  asio::awaitable<bool> flush(Stream& stream) {
    if (out_.empty()) co_return true;
    conn_.arm(st_.cfg.server.idle_timeout);
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(out_), use_tuple);
    conn_.bytes_out += n;
    out_.clear();
    co_return !ec;
  }

  Connection& conn_;
  ServerState& st_;
  pop3::Session& session_;
  core::LineReader& reader_;
  std::string out_;
  std::vector<char> chunk_;
};

pop3::SessionOptions session_options(const ServerState& st, const Connection& conn, bool secure,
                                     bool loopback) {
  const auto& cfg = st.cfg;
  pop3::SessionOptions o;
  o.hostname = cfg.server.hostname;
  o.apop_enabled = cfg.auth.apop;
  o.apop_timestamp = conn.apop_timestamp;
  o.stls_available = cfg.tls.enabled && !secure;
  o.secure = secure;
  o.plaintext_allowed = secure || cfg.auth.allow_plaintext == config::Plaintext::always ||
                        (cfg.auth.allow_plaintext == config::Plaintext::loopback && loopback);
  o.expire_days = cfg.server.expire_days;
  o.login_delay_seconds = cfg.server.login_delay_seconds;
  o.oauth_enabled = st.oauth != nullptr;
  if (cfg.auth.oauth) o.oauth_scope = cfg.auth.oauth->audience;
  return o;
}

template <class Stream>
asio::awaitable<bool> tls_handshake(Connection& conn, Stream& tls) {
  conn.arm(limits::tls_handshake_timeout);
  auto [ec] = co_await tls.async_handshake(asio::ssl::stream_base::server, use_tuple);
  if (ec) {
    core::log_info(fmt::format("session={} event=tls_failed error=\"{}\"", conn.id, ec.message()));
    co_return false;
  }
  co_return true;
}

template <class Stream>
asio::awaitable<void> tls_goodbye(Connection& conn, Stream& tls) {
  conn.arm(std::chrono::seconds(2));
  co_await tls.async_shutdown(use_tuple);
}

}  // namespace

asio::awaitable<void> serve_pop3(tcp::socket socket, bool implicit_tls, ServerState& st,
                                 ConnectionSet& set) {
  auto conn = std::make_shared<Connection>(std::move(socket), st, set);
  conn->id = st.next_session_id.fetch_add(1);
  std::error_code ec;
  auto remote = conn->socket.remote_endpoint(ec);
  conn->peer = ec ? "unknown" : fmt::format("{}:{}", remote.address().to_string(), remote.port());
  bool loopback = !ec && is_loopback(remote.address());
  conn->apop_timestamp = fmt::format("<{}.{}.{}@{}>", getpid(), conn->id,
                                     std::chrono::duration_cast<std::chrono::seconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count(),
                                     st.cfg.server.hostname);
  auto started = steady_clock::now();
  core::log_info(fmt::format("session={} event=connect peer={} tls={}", conn->id, conn->peer,
                             implicit_tls ? "implicit" : "no"));
  conn->arm(st.cfg.server.idle_timeout);
  Connection::start_watchdog(conn);

  pop3::Session session(session_options(st, *conn, implicit_tls, loopback));
  core::LineReader reader(limits::max_line);
  Driver driver(*conn, session, reader);
  std::string greeting;
  session.greeting(greeting);
  auto tls_ctx = st.tls.get();

  if (implicit_tls) {
    asio::ssl::stream<tcp::socket&> tls(conn->socket, *tls_ctx);
    if (co_await tls_handshake(*conn, tls)) {
      co_await asio::async_write(tls, asio::buffer(greeting), use_tuple);
      co_await driver.run(tls);
      co_await tls_goodbye(*conn, tls);
    }
  } else {
    auto [wec, wn] = co_await asio::async_write(conn->socket, asio::buffer(greeting), use_tuple);
    if (!wec && co_await driver.run(conn->socket) == Outcome::start_tls && tls_ctx) {
      // RFC 2595 / STYLE rule 6: input that came with or after STLS is
      // discarded, never read as a command of the TLS session.
      reader.discard();
      asio::ssl::stream<tcp::socket&> tls(conn->socket, *tls_ctx);
      if (co_await tls_handshake(*conn, tls)) {
        session.tls_started(true);
        co_await driver.run(tls);
        co_await tls_goodbye(*conn, tls);
      }
    }
  }

  const auto& s = session.stats();
  const char* result = conn->timed_out                                   ? "timeout"
                       : session.state() == pop3::Session::State::closed ? "quit"
                                                                         : "disconnected";
  core::log_info(fmt::format(
      "session={} event=disconnect peer={} user={} result={} commands={} bad_commands={} "
      "retr={} retr_bytes={} top={} dele={} auth_failures={} bytes_in={} bytes_out={} "
      "duration_ms={}",
      conn->id, conn->peer, session.user().empty() ? "-" : session.user(), result, s.commands,
      s.bad_commands, s.retrieved, s.retrieved_bytes, s.top, s.deleted, s.auth_failures,
      conn->bytes_in, conn->bytes_out,
      std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - started)
          .count()));
  // Release the maildrop lock before the socket: a reconnecting client must
  // not see [IN-USE] from its own previous session.
  driver.mailbox.reset();
  conn->finish();
}

}  // namespace popbox::net
