#include "net/pop3_connection.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ssl.hpp>

#include "core/ip_address.hpp"
#include "core/limits.hpp"
#include "core/line_reader.hpp"
#include "core/log.hpp"
#include "metrics/server_metrics.hpp"
#include "net/blocking.hpp"
#include "net/channel_binding.hpp"
#include "net/client_identity.hpp"
#include "net/message_stream.hpp"
#include "net/pop3_hooked.hpp"
#include "net/pop3_login.hpp"
#include "net/server_state.hpp"
#include "net/session_registry.hpp"
#include "net/tls_socket.hpp"
#include "net/watched_socket.hpp"
#include "pop3/session.hpp"

namespace popbox::net {

using asio::ip::tcp;
using std::chrono::steady_clock;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
// The login work on the pools (net/pop3_login.hpp).
using detail::AuthTicket;
using detail::LoginResult;
using detail::open_blocking;
using detail::outcome_name;
using detail::verify_blocking;

/// State of one POP3 connection shared by its coroutine and its watchdog.
class Connection final : public WatchedSocket<tcp::socket> {
 public:
  Connection(tcp::socket s, ServerState& st, ConnectionSet& set)
      : WatchedSocket(std::move(s), set), state(st) {}

  ServerState& state;
  std::uint64_t id = 0;
  std::string peer;
  std::string ip_key;  ///< the client's key for per-IP limits (core::client_key)
  std::string apop_timestamp;
  std::uint64_t bytes_in = 0, bytes_out = 0;
  const SessionRecord* record = nullptr;  ///< `who`/`kick` entry, while the session runs
};

namespace {

enum class Outcome { closed, start_tls };

// Closes a mailbox on the pool. It owns a plain pointer: GCC 12 may destroy
// a callable twice when it passes through a co_await expression, harmless
// only for one that owns nothing (an owning capture corrupted the heap).
struct CloseMailbox {
  store::Mailbox* closing;
  void operator()() const { std::unique_ptr<store::Mailbox>{closing}.reset(); }
};

// Drives the session over one stream type (plain TCP or TLS).
class Driver {
 public:
  Driver(Connection& conn, pop3::Session& session, core::LineReader& reader)
      : conn_(conn), st_(conn.state), session_(session), reader_(reader) {}
  // A mailbox still open here (the coroutine was torn down) is closed on
  // the pool too; if the pool is already gone (shutdown), the process exit
  // releases its lock.
  ~Driver() {
    if (mailbox) asio::post(st_.pool.get(), CloseMailbox{mailbox.release()});
  }
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  std::unique_ptr<store::Mailbox> mailbox;

  /// Closes the mailbox (unlock, release: an index write, a database
  /// transaction) on the blocking pool, never on this event thread; done
  /// when it returns.
  asio::awaitable<void> close_mailbox() {
    if (!mailbox) co_return;
    auto close = CloseMailbox{mailbox.release()};
    co_await run_blocking(st_.pool, close);
  }

  template <class Stream>
  asio::awaitable<Outcome> run(Stream& stream) {
    for (;;) {
      // Answer every complete line already received (pipelining), in order;
      // while the unsent output is over its bound, flush before answering
      // more, so a client that pipelines and never reads is not answered
      // into server memory.
      std::string_view line;
      for (;;) {
        if (!co_await flush_if_full(stream)) co_return Outcome::closed;
        auto r = reader_.next(line);
        if (r == core::LineReader::Result::need_more) break;
        const std::uint64_t commands = session_.stats().commands;
        co_await detail::hooked_delay(st_.hooks.get(), session_.user());
        pop3::Step step = r == core::LineReader::Result::too_long
                              ? session_.on_line_too_long(out_)
                              : detail::hooked_line(st_.hooks.get(), session_, line, out_);
        if (session_.stats().commands != commands) metrics::server().command(line);
        auto outcome = co_await act(stream, step);
        if (outcome) co_return *outcome;
      }
      if (!co_await flush(stream)) co_return Outcome::closed;
      if (conn_.stop_requested) {
        out_ = conn_.record && conn_.record->kicked() ? kicked_reply
                                                      : "-ERR [SYS/TEMP] Server shutting down.\r\n";
        co_await flush(stream);
        co_return Outcome::closed;
      }
      release_buffers();
      conn_.arm(st_.cfg.server.idle_timeout);
      conn_.idle = true;
      const bool received = co_await receive(stream);
      conn_.idle = false;
      if (!received) co_return Outcome::closed;
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
      case Action::login: {
        // What the session answers (a close after too many failures) is
        // carried out like any other step.
        pop3::Step next = co_await login(step.credentials);
        co_return co_await act(stream, next);
      }
      case Action::scram: {
        pop3::Step next = co_await scram_lookup(step.credentials.user);
        co_return co_await act(stream, next);
      }
      case Action::stream:
        if (!co_await send_message(stream, step)) co_return Outcome::closed;
        co_return std::nullopt;
      case Action::more:
        // A long listing: the session writes it piece by piece while the
        // output stays within its bound.
        while (step.action == Action::more) {
          if (!co_await flush_if_full(stream)) co_return Outcome::closed;
          step = session_.more(out_);
        }
        co_return std::nullopt;
      case Action::commit: {
        bool ok = co_await commit();
        // Unlock before the reply: a client that saw +OK may reconnect at once.
        co_await close_mailbox();
        session_.commit_done(ok, out_);
        co_await flush(stream);
        co_return Outcome::closed;
      }
    }
    co_return std::nullopt;
  }

  // Checks the credentials and opens the maildrop; returns the session's
  // next step.
  asio::awaitable<pop3::Step> login(pop3::Credentials& creds) {
    using pop3::LoginOutcome;
    ServerState& st = st_;
    const auto login_started = steady_clock::now();
    const std::string user = st.cfg.auth.canonical_user(creds.user);
    LoginResult result;
    std::chrono::milliseconds wait{0};
    std::shared_ptr<const auth::UserInfo> cached;  // the entry, on a cache hit
    // SCRAM logs in in two steps: the proof goes through the gates below and
    // on success gets the server-final message; the client's acknowledgement
    // then only opens the maildrop.
    const bool scram = creds.kind == pop3::Credentials::Kind::scram;
    const bool passed = std::exchange(scram_passed_, false);
    if (scram && creds.acknowledged) {
      // Only a proof this driver let through may be acknowledged.
      result.outcome = passed ? LoginOutcome::ok : LoginOutcome::bad_credentials;
    } else if (scram) {
      // The session checked the proof (no hashing left, so no place on the
      // auth pool), and it counts like a password, also from a blocked
      // address: a refused guess is still a guess.
      const auto now = steady_clock::now();
      const bool blocked = st.penalty.blocked(conn_.ip_key, now);
      wait = creds.verified ? st.penalty.succeeded(conn_.ip_key, user, now)
                            : st.penalty.failed(conn_.ip_key, user, now);
      if (blocked) {
        metrics::server().penalty_block();
        result = {LoginOutcome::temp_failure, nullptr, "too many failed logins from this address"};
      } else {
        result.outcome = creds.verified ? LoginOutcome::ok : LoginOutcome::bad_credentials;
      }
    } else if (st.penalty.blocked(conn_.ip_key, steady_clock::now())) {
      metrics::server().penalty_block();
      result = {LoginOutcome::temp_failure, nullptr, "too many failed logins from this address"};
    } else if ((cached = co_await detail::cached_login(st, user, creds))) {
      // A password verified recently (auth::CredentialCache): no hash and no
      // trip to the auth pool, but the address's penalty still applies.
      wait = st.penalty.succeeded(conn_.ip_key, user, steady_clock::now());
      result.outcome = LoginOutcome::ok;
    } else if (auto ticket = co_await auth_ticket(); !*ticket) {
      result = {LoginOutcome::temp_failure, nullptr, "too many password checks in progress"};
    } else {
      const std::string* ts = &conn_.apop_timestamp;
      const std::string* name = &user;
      std::string* why = &result.detail;
      auto verify = [&st, name, &creds, ts, why] {
        return verify_blocking(st, *name, creds, *ts, *why);
      };
      auth::AuthResult verdict = co_await run_blocking(st.auth_pool, std::move(verify));
      if (verdict == auth::AuthResult::temp_failure) {
        result = {LoginOutcome::temp_failure, nullptr, "user database unavailable"};
      } else if (verdict != auth::AuthResult::ok) {
        // Like Dovecot's auth penalty: the wait doubles per failure from
        // this address or for this name; an unknown user looks exactly like
        // a wrong password.
        wait = st.penalty.failed(conn_.ip_key, user, steady_clock::now());
        result.outcome = LoginOutcome::bad_credentials;
      } else {
        wait = st.penalty.succeeded(conn_.ip_key, user, steady_clock::now());
        result.outcome = LoginOutcome::ok;
      }
    }
    OPENSSL_cleanse(creds.secret.data(), creds.secret.size());
    if (!creds.acknowledged)
      result.outcome = detail::hooked_login(st.hooks.get(), user, result.outcome);
    if (wait.count() > 0) {
      asio::steady_timer delay(conn_.socket.get_executor(), wait);
      co_await delay.async_wait(use_tuple);
    }
    if (result.outcome == LoginOutcome::ok && scram && !creds.acknowledged) {
      // Only now may the client learn that its proof was right.
      scram_passed_ = true;
      session_.scram_verified(out_);
      co_return pop3::Step{};
    }
    if (result.outcome == LoginOutcome::ok) {
      auto open = [&st, &user, info = cached.get()] { return open_blocking(st, user, info); };
      const auto open_started = steady_clock::now();
      result = co_await run_blocking(st.pool, std::move(open));
      metrics::server().maildrop_open(steady_clock::now() - open_started);
    }
    const auto queued = std::exchange(queued_ms_, 0);
    core::log_info(fmt::format(
        "session={} event=login user={} result={}{}{}{}{}{}", conn_.id,
        core::log_escape(creds.user), outcome_name(result.outcome),
        result.detail.empty() ? "" : " detail=\"", result.detail, result.detail.empty() ? "" : "\"",
        queued > 0 ? fmt::format(" queued_ms={}", queued) : "", cached ? " auth=cache" : ""));
    metrics::server().login(session_.mechanism(), result.outcome,
                            steady_clock::now() - login_started);
    // Logged in: the login deadline no longer applies, idle_timeout does.
    if (result.outcome == LoginOutcome::ok && !conn_.hard_expired) {
      conn_.hard_deadline = steady_clock::time_point::max();
    }
    mailbox = std::move(result.mailbox);
    co_return session_.login_done(result.outcome, mailbox ? &mailbox->messages() : nullptr, out_);
  }

  // A place on the auth pool. Checks beyond an address's share wait their
  // turn rather than fail, so many users behind one NAT can all log in; only
  // a full queue (or the connection ending) refuses.
  asio::awaitable<std::unique_ptr<AuthTicket>> auth_ticket() {
    auto pause = limits::auth_turn_poll_first;
    const auto started = steady_clock::now();
    for (;;) {
      auto ticket = std::make_unique<AuthTicket>(st_, conn_.ip_key);
      if (*ticket || !ticket->address_busy() || !conn_.socket.is_open()) {
        queued_ms_ =
            std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - started)
                .count();
        co_return ticket;
      }
      ticket.reset();
      asio::steady_timer turn(conn_.socket.get_executor(), pause);
      co_await turn.async_wait(use_tuple);
      pause = std::min(pause * 2, limits::auth_turn_poll_most);
    }
  }

  asio::awaitable<pop3::Step> scram_lookup(const std::string& name) {
    ServerState& st = st_;
    const auto started = steady_clock::now();  // a refusal's login duration
    const std::string user = st.cfg.auth.canonical_user(name);
    if (st.penalty.blocked(conn_.ip_key, started)) {
      // Like a password login from a blocked address: no check, no hint.
      metrics::server().penalty_block();
      metrics::server().login(session_.mechanism(), pop3::LoginOutcome::temp_failure,
                              steady_clock::now() - started);
      core::log_info(
          fmt::format("session={} event=login user={} result=temp_failure "
                      "detail=\"too many failed logins from this address\"",
                      conn_.id, core::log_escape(name)));
      co_return session_.scram_lookup_done(std::nullopt, {}, out_);
    }
    // The lookup derives keys for unknown users and plain-stored passwords:
    // it is hashing, so it runs on the auth pool under a ticket.
    auto ticket = co_await auth_ticket();
    if (!*ticket) {
      metrics::server().login(session_.mechanism(), pop3::LoginOutcome::temp_failure,
                              steady_clock::now() - started);
      core::log_info(
          fmt::format("session={} event=login user={} result=temp_failure "
                      "detail=\"too many password checks in progress\"",
                      conn_.id, core::log_escape(name)));
      co_return session_.scram_lookup_done(std::nullopt, {}, out_);
    }
    auto work = [&st, &user] {
      return std::pair{st.auth.scram_lookup(user), auth::make_scram_nonce()};
    };
    auto result = co_await run_blocking(st.auth_pool, std::move(work));
    std::optional<auth::ScramSecret> secret;
    if (result.first.result == auth::AuthResult::ok) {
      secret = std::move(result.first.secret);
    } else {
      // The user database is unavailable: the attempt ends here, as a
      // password check's temp_failure would.
      metrics::server().login(session_.mechanism(), pop3::LoginOutcome::temp_failure,
                              steady_clock::now() - started);
      core::log_info(
          fmt::format("session={} event=login user={} result=temp_failure "
                      "detail=\"user database unavailable\"",
                      conn_.id, core::log_escape(name)));
    }
    auth::wipe(result.first.secret);
    co_return session_.scram_lookup_done(std::move(secret), result.second, out_);
  }

  // Answers Action::stream: the session frames the reply (status line,
  // dot-stuffing, terminator, the output bound); this only moves blocks from
  // the disk to the socket, reading from the page cache on this thread when
  // it can and otherwise on the pool while the output goes out.
  template <class Stream>
  asio::awaitable<bool> send_message(Stream& stream, const pop3::Step& step) {
    using detail::BlockRead;
    struct Opened {
      std::unique_ptr<store::MessageReader> reader;
      BlockRead first;
    };
    const auto started = steady_clock::now();
    chunk_.resize(limits::message_chunk);
    store::Mailbox* mb = mailbox.get();
    std::span<char> chunk(chunk_);
    // Opening and the first read share one trip to the pool: most messages
    // fit in one chunk.
    auto open_and_read = [mb, index = step.message, chunk] {
      Opened o;
      o.reader = mb->open(index, o.first.ec);
      if (o.reader) o.first = detail::read_block(*o.reader, chunk);
      return o;
    };
    // From memory when it can be (cached lookups, page-cache read) on this
    // thread; else both on the pool.
    Opened o;
    o.reader = mb->try_open_nowait(step.message);
    if (o.reader) {
      std::error_code ec;
      if (auto n = o.reader->read_nowait(chunk, ec); n && !ec) {
        o.first.n = *n;
      } else {
        store::MessageReader* r = o.reader.get();
        o.first =
            co_await run_blocking(st_.pool, [r, chunk] { return detail::read_block(*r, chunk); });
      }
    } else {
      o = co_await run_blocking(st_.pool, std::move(open_and_read));
    }
    if (!step.top_lines && !o.first.ec)
      detail::hooked_retr(st_.hooks.get(), session_.user(), o.reader, o.first.n);
    if (!o.reader || o.first.ec) {
      core::log_warn(fmt::format("session={} event=retr_failed user={} message={} error=\"{}\"",
                                 conn_.id, core::log_escape(session_.user()), step.message + 1,
                                 o.first.ec.message()));
      session_.stream_failed(out_);
      co_return true;
    }
    store::MessageReader& reader = *o.reader;
    session_.stream_opened(out_);
    session_.stream_feed(std::string_view(chunk_.data(), o.first.n));
    for (;;) {
      switch (session_.stream_next(out_)) {
        case pop3::StreamStep::done:
          metrics::server().retr(step.top_lines.has_value(), steady_clock::now() - started);
          co_return true;
        case pop3::StreamStep::write:
          if (!co_await flush(stream)) co_return false;
          break;
        case pop3::StreamStep::need_block: {
          BlockRead next;
          if (auto n = reader.read_nowait(chunk, next.ec)) {
            next.n = *n;
          } else if (!out_.empty()) {
            conn_.arm(st_.cfg.server.idle_timeout);
            auto both = co_await detail::read_while_writing(st_.pool, reader, chunk, stream, out_);
            conn_.bytes_out += both.written;
            out_.clear();
            if (both.write_error) co_return false;
            next = both.read;
          } else {
            auto read = [&reader, chunk] { return detail::read_block(reader, chunk); };
            next = co_await run_blocking(st_.pool, std::move(read));
          }
          if (next.ec) {
            // Part of the message is already on the wire: the only honest
            // thing left is to drop the connection (nothing gets deleted).
            core::log_error(fmt::format(
                "session={} event=read_error user={} message={} error=\"{}\"", conn_.id,
                core::log_escape(session_.user()), step.message + 1, next.ec.message()));
            co_await flush(stream);  // what is framed goes first (a hooked cut counts it)
            co_return false;
          }
          session_.stream_feed(std::string_view(chunk_.data(), next.n));
          break;
        }
      }
    }
  }

  asio::awaitable<bool> commit() {
    std::vector<std::size_t> deleted = session_.commit_deleted();
    std::vector<std::size_t> retrieved = session_.commit_retrieved();
    store::Mailbox* mb = mailbox.get();
    std::error_code ec = co_await run_blocking(
        st_.pool, [mb, &deleted, &retrieved] { return mb->commit(deleted, retrieved); });
    core::log_info(fmt::format("session={} event=commit user={} deleted={} seen={} result={}",
                               conn_.id, core::log_escape(session_.user()), deleted.size(),
                               retrieved.size(), ec ? ec.message() : "ok"));
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

  // Waits for the client's next bytes and feeds them to the reader; false
  // when the connection ended. A plain connection waits for readability
  // with no buffer at all, then reads into its event thread's buffer
  // without suspending in between (the buffer is shared by every
  // connection of the thread).
  asio::awaitable<bool> receive(tcp::socket& socket) {
    static thread_local std::array<char, limits::pop3_read_block> block;
    for (;;) {
      auto [wec] = co_await socket.async_wait(tcp::socket::wait_read, use_tuple);
      if (wec) co_return false;
      std::error_code ec;
      const std::size_t n = socket.read_some(asio::buffer(block), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
      if (ec) co_return false;
      conn_.bytes_in += n;
      reader_.feed(std::string_view(block.data(), n));
      co_return true;
    }
  }

  // TLS, the same way: OpenSSL reads the socket itself, so when it holds
  // no received bytes, readability of the socket is what to wait for (and
  // its record buffers are released meanwhile). A partial record means
  // waiting again; the thread's buffer is used only between two waits.
  asio::awaitable<bool> receive(TlsSocket& tls) {
    static thread_local std::array<char, limits::pop3_read_block> block;
    bool wait = !tls.has_pending();
    for (;;) {
      if (wait) {
        auto [wec] = co_await tls.next_layer().async_wait(tcp::socket::wait_read, use_tuple);
        if (wec) co_return false;
      }
      std::error_code ec;
      std::size_t n = 0;
      const TlsSocket::Want want = tls.read_once(block, n, ec);
      if (want == TlsSocket::Want::write) {
        auto [wec] = co_await tls.next_layer().async_wait(tcp::socket::wait_write, use_tuple);
        if (wec) co_return false;
        wait = false;
        continue;
      }
      wait = true;
      if (want == TlsSocket::Want::read) continue;
      if (ec) co_return false;
      conn_.bytes_in += n;
      reader_.feed(std::string_view(block.data(), n));
      co_return true;
    }
  }

  // Writes the output once it has reached limits::max_pending_output.
  template <class Stream>
  asio::awaitable<bool> flush_if_full(Stream& stream) {
    if (out_.size() < limits::max_pending_output) co_return true;
    co_return co_await flush(stream);
  }

  // Before waiting for the client: an idle connection keeps no buffer, not
  // the message block nor the output of its last burst.
  void release_buffers() {
    if (out_.empty()) std::string().swap(out_);
    std::vector<char>().swap(chunk_);
  }

  Connection& conn_;
  ServerState& st_;
  pop3::Session& session_;
  core::LineReader& reader_;
  std::string out_;
  std::vector<char> chunk_;
  bool scram_passed_ = false;   // a SCRAM proof passed the gates; its acknowledgement may log in
  std::int64_t queued_ms_ = 0;  // how long the last check waited for its address's turn
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
  auto [ec, n] = co_await tls.async_handshake(use_tuple);
  if (ec) {
    core::log_info(fmt::format("session={} event=tls_failed error=\"{}\"", conn.id, ec.message()));
    metrics::server().tls_failure();
    co_return false;
  }
  metrics::server().tls_handshake(SSL_version(tls.native_handle()));
  co_return true;
}

template <class Stream>
asio::awaitable<void> tls_goodbye(Connection& conn, Stream& tls) {
  conn.arm(limits::tls_shutdown_timeout);
  co_await tls.async_shutdown(use_tuple);
}

// After the login deadline cut a session: says why, if the link still lets
// us write (limits::goodbye_timeout bounds the attempt).
template <class Stream>
asio::awaitable<void> login_timeout_goodbye(Connection& conn, Stream& stream) {
  if (!conn.hard_expired || !conn.socket.is_open()) co_return;
  core::log_info(fmt::format("session={} event=login_timeout peer={}", conn.id, conn.peer));
  std::string_view bye = "-ERR [SYS/TEMP] Login timeout, closing connection.\r\n";
  conn.arm(limits::goodbye_timeout);
  co_await asio::async_write(stream, asio::buffer(bye), use_tuple);
}

}  // namespace

asio::awaitable<void> serve_pop3(tcp::socket socket, bool implicit_tls, ServerState& st,
                                 ConnectionSet& set) {
  auto conn = std::make_shared<Connection>(std::move(socket), st, set);
  conn->id = st.next_session_id.fetch_add(1);
  // The whole pre-login phase, PROXY header and TLS handshakes included,
  // must fit in login_timeout whatever the client keeps sending.
  conn->hard_deadline = steady_clock::now() + st.cfg.limits.login_timeout;
  conn->arm(st.cfg.server.idle_timeout);
  Connection::start_watchdog(conn);
  auto started = steady_clock::now();

  std::optional<detail::Client> client = co_await detail::identify_client(*conn, st, conn->id);
  if (!client) {
    // No session began (PROXY header refused, missing, or late): counted
    // as ended, never as open.
    metrics::server().pop3_unidentified(implicit_tls, conn->timed_out);
    conn->finish();
    co_return;
  }
  // Reads on the plain socket are done without blocking after a wait for
  // readability (Driver::receive); a spurious wake-up must not block.
  std::error_code nb_ec;
  conn->socket.non_blocking(true, nb_ec);
  conn->peer = client->peer;
  conn->ip_key = core::client_key(client->address);
  const bool loopback = client->loopback;
  conn->apop_timestamp = fmt::format("<{}.{}.{}@{}>", getpid(), conn->id,
                                     std::chrono::duration_cast<std::chrono::seconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count(),
                                     st.cfg.server.hostname);
  core::log_info(fmt::format("session={} event=connect peer={} tls={}{}", conn->id, conn->peer,
                             implicit_tls ? "implicit" : "no", client->via));
  IpSlot per_ip(st.pop3_per_ip, conn->ip_key, st.cfg.limits.max_connections_per_ip);
  if (!per_ip) {
    metrics::server().refused(implicit_tls ? metrics::Listener::pop3s : metrics::Listener::pop3,
                              true);
    core::log_info(fmt::format("session={} event=refused peer={} reason=max_connections_per_ip",
                               conn->id, conn->peer));
    if (!implicit_tls) {
      std::string_view busy = "-ERR [SYS/TEMP] Too many connections from your address.\r\n";
      conn->arm(limits::goodbye_timeout);
      co_await asio::async_write(conn->socket, asio::buffer(busy), use_tuple);
    }
    conn->finish();
    co_return;
  }
  metrics::ServerMetrics::OpenSession open(
      metrics::server(), implicit_tls ? metrics::Listener::pop3s : metrics::Listener::pop3);

  pop3::Session session(session_options(st, *conn, implicit_tls, loopback));
  core::LineReader reader(limits::max_line);
  Driver driver(*conn, session, reader);
  SessionRecord record;  // for `popbox who` and `kick`
  record.start(conn->id, conn->peer, implicit_tls, session, *conn, conn->bytes_in, conn->bytes_out);
  conn->record = &record;
  std::string greeting;
  session.greeting(greeting);
  auto tls_ctx = st.tls.get();

  if (implicit_tls) {
    TlsSocket tls(conn->socket, *tls_ctx);
    if (co_await tls_handshake(*conn, tls)) {
      session.tls_started(true, channel_binding(tls.native_handle()));
      record.tls_started(tls.native_handle());
      co_await asio::async_write(tls, asio::buffer(greeting), use_tuple);
      co_await driver.run(tls);
      co_await login_timeout_goodbye(*conn, tls);
      co_await kicked_goodbye(*conn, record, tls);
      co_await tls_goodbye(*conn, tls);
    }
  } else {
    auto [wec, wn] = co_await asio::async_write(conn->socket, asio::buffer(greeting), use_tuple);
    Outcome outcome = wec ? Outcome::closed : co_await driver.run(conn->socket);
    if (outcome == Outcome::closed) {
      co_await login_timeout_goodbye(*conn, conn->socket);
      co_await kicked_goodbye(*conn, record, conn->socket);
    }
    if (outcome == Outcome::start_tls && tls_ctx) {
      // RFC 2595 / STYLE rule 6: input that came with or after STLS is
      // discarded, never read as a command of the TLS session.
      reader.discard();
      TlsSocket tls(conn->socket, *tls_ctx);
      if (co_await tls_handshake(*conn, tls)) {
        session.tls_started(true, channel_binding(tls.native_handle()));
        record.tls_started(tls.native_handle());
        co_await driver.run(tls);
        co_await login_timeout_goodbye(*conn, tls);
        co_await kicked_goodbye(*conn, record, tls);
        co_await tls_goodbye(*conn, tls);
      }
    }
  }

  const auto& s = session.stats();
  // The session knows why it closed (QUIT, too many errors, ...).
  const pop3::CloseReason why = session.close_reason();
  std::string_view result = conn->timed_out                  ? "timeout"
                            : why != pop3::CloseReason::none ? pop3::close_reason_name(why)
                            : record.kicked()                ? "kicked"
                                                             : "disconnected";
  core::log_info(fmt::format(
      "session={} event=disconnect peer={} user={} result={} commands={} bad_commands={} "
      "retr={} retr_bytes={} top={} dele={} auth_failures={} bytes_in={} bytes_out={} "
      "duration_ms={}",
      conn->id, conn->peer, session.user().empty() ? "-" : core::log_escape(session.user()), result,
      s.commands, s.bad_commands, s.retrieved, s.retrieved_bytes, s.top, s.deleted, s.auth_failures,
      conn->bytes_in, conn->bytes_out,
      std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - started)
          .count()));
  metrics::server().pop3_ended(implicit_tls, why, conn->timed_out, conn->bytes_in, conn->bytes_out);
  // Release the maildrop lock before the socket: a reconnecting client must
  // not see [IN-USE] from its own previous session.
  co_await driver.close_mailbox();
  conn->finish();
}

}  // namespace popbox::net
