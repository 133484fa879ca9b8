#include "bench/load_generator.hpp"

#include <fmt/format.h>
#include <sys/resource.h>

#include <asio/ssl.hpp>

#include <atomic>
#include <cctype>
#include <thread>

#include "bench/link.hpp"
#include "core/limits.hpp"

namespace popbox::bench {
namespace {

using namespace detail;

// Idle scenario phases, set by the coordinating (main) thread.
enum class Phase { holding, check, release };

// What the threads share: read-only options, and counters that are written
// once per session or login, never per byte.
struct Shared {
  explicit Shared(const LoadOptions& options)
      : o(options), in_session(std::make_unique<std::atomic<bool>[]>(options.users.size())) {}
  const LoadOptions& o;
  std::vector<tcp::endpoint> endpoints;
  clock::time_point end;
  std::atomic<std::uint64_t> next_user{0};
  std::unique_ptr<std::atomic<bool>[]> in_session;  // per user: a session of ours is on it
  // idle
  std::atomic<unsigned> next_slot{0};
  std::atomic<long> opening_left{0};
  std::atomic<long> unchecked{0};
  std::atomic<Phase> phase{Phase::holding};
  clock::time_point login_deadline = clock::time_point::max();
};

// One thread: its own io_context, TLS context and TLS session to resume.
struct Worker {
  explicit Worker(Shared& s) : shared(s), tls(asio::ssl::context::tls_client) {
    tls.set_verify_mode(asio::ssl::verify_none);  // a benchmark, not a client
    if (s.o.scenario == Scenario::idle)
      SSL_CTX_set_mode(tls.native_handle(), SSL_MODE_RELEASE_BUFFERS);
  }
  ~Worker() {
    if (session != nullptr) SSL_SESSION_free(session);
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // The next user round-robin, skipping users one of our sessions is on
  // (the server would refuse the second: POP3 locks the maildrop) unless
  // every user is busy. Give it back with end_user().
  std::size_t take_user() {
    const std::size_t n = shared.o.users.size();
    std::size_t i = 0;
    for (std::size_t tries = 0; tries < n; ++tries) {
      i = shared.next_user.fetch_add(1, std::memory_order_relaxed) % n;
      if (!shared.in_session[i].exchange(true, std::memory_order_acquire)) return i;
    }
    return i;  // all busy: let the server decide
  }
  void end_user(std::size_t i) { shared.in_session[i].store(false, std::memory_order_release); }

  Shared& shared;
  asio::io_context io{1};
  asio::ssl::context tls;
  SSL_SESSION* session = nullptr;  // the last resumable one this thread got
  LoadResult result;
  std::vector<asio::steady_timer*> holders;  // idle sessions' wait timers
};

double ms_since(clock::time_point t) {
  return std::chrono::duration<double, std::milli>(clock::now() - t).count();
}

// "STEP: reply" with runs of two or more digits folded to "N", so replies
// that differ only in a timestamp or a count land in one bucket.
std::string error_key(std::string_view step, std::string_view text) {
  text = text.substr(0, limits::bench_error_text);
  std::string out(step);
  out += ": ";
  auto digit = [&](std::size_t i) {
    return i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0;
  };
  for (std::size_t i = 0; i < text.size();) {
    if (digit(i) && digit(i + 1)) {
      out += 'N';
      while (digit(i)) ++i;
      continue;
    }
    unsigned char c = static_cast<unsigned char>(text[i++]);
    out += std::isprint(c) != 0 ? static_cast<char>(c) : '?';
  }
  return out;
}

// A POP3 client dialogue over `Stream`; `step` names what is under way for
// the error report.
template <class Stream>
class Pop3 {
 public:
  Pop3(Stream& s, Link& link, std::string& step, std::size_t buffer)
      : stream_(s),
        link_(link),
        step_(step),
        reader_(s, link, buffer, limits::bench_reply_timeout) {}

  asio::awaitable<void> send(std::string_view data) {
    link_.expect_within(limits::bench_reply_timeout);
    co_await asio::async_write(stream_, asio::buffer(data), asio::use_awaitable);
  }

  asio::awaitable<std::string> expect_ok(std::string_view step) {
    step_ = step;
    std::string reply = co_await reader_.line();
    if (!reply.starts_with("+OK")) throw ReplyError(step_, reply);
    co_return reply;
  }

  asio::awaitable<std::string> command(std::string_view step, std::string_view line) {
    step_ = step;
    co_await send(line);
    co_return co_await expect_ok(step);
  }

  asio::awaitable<std::uint64_t> body() { co_return co_await reader_.body(); }

  Link& link() { return link_; }

  // Greeting, USER, PASS, STAT; returns the message count.
  asio::awaitable<unsigned> login(const std::string& user, const std::string& password) {
    co_await expect_ok("greeting");
    co_await command("USER", fmt::format("USER {}\r\n", user));
    co_await command("PASS", fmt::format("PASS {}\r\n", password));
    std::string stat = co_await command("STAT", "STAT\r\n");
    unsigned count = 0;
    if (std::sscanf(stat.c_str(), "+OK %u", &count) != 1) throw ReplyError("STAT", stat);
    co_return count;
  }

 private:
  Stream& stream_;
  Link& link_;
  std::string& step_;
  Reader<Stream> reader_;
};

// RETR (or TOP n 0) of messages 1..count, `bench_pipeline` in flight, then
// QUIT in the last batch. Returns {messages, octets}.
template <class Stream>
asio::awaitable<std::pair<std::uint64_t, std::uint64_t>> fetch_all(Pop3<Stream>& p,
                                                                   std::string_view verb,
                                                                   std::string_view suffix,
                                                                   unsigned count) {
  std::uint64_t octets = 0;
  std::string cmds;
  for (unsigned first = 1; first <= count || first == 1; first += limits::bench_pipeline) {
    unsigned last = std::min(count, first + limits::bench_pipeline - 1);
    cmds.clear();
    for (unsigned i = first; i <= last; ++i) cmds += fmt::format("{} {}{}\r\n", verb, i, suffix);
    if (last == count) cmds += "QUIT\r\n";
    co_await p.send(cmds);
    for (unsigned i = first; i <= last; ++i) {
      co_await p.expect_ok(verb);
      octets += co_await p.body();
    }
    if (last == count) break;
  }
  co_await p.expect_ok("QUIT");
  co_return std::pair<std::uint64_t, std::uint64_t>{count, octets};
}

// One whole session of a busy scenario; counts into `r` once it completed.
template <class Stream>
asio::awaitable<void> busy_session(Pop3<Stream>& p, Worker& w, const std::string& user,
                                   clock::time_point started) {
  const LoadOptions& o = w.shared.o;
  LoadResult& r = w.result;
  unsigned count = co_await p.login(user, o.password);
  std::pair<std::uint64_t, std::uint64_t> got{0, 0};
  switch (o.scenario) {
    case Scenario::login:
      co_await p.command("QUIT", "QUIT\r\n");
      break;
    case Scenario::full:
      co_await p.command("UIDL", "UIDL\r\n");
      co_await p.body();
      got = co_await fetch_all(p, "RETR", "", count);
      break;
    case Scenario::top:
      got = co_await fetch_all(p, "TOP", " 0", count);
      break;
    case Scenario::retr:
      if (count == 0) throw ReplyError("STAT", "empty maildrop: nothing to RETR");
      while (clock::now() < w.shared.end) {
        auto t = clock::now();
        co_await p.command("RETR", "RETR 1\r\n");
        r.bytes += co_await p.body();
        ++r.messages;
        r.latency_ms.push_back(ms_since(t));
      }
      co_await p.command("QUIT", "QUIT\r\n");
      break;
    case Scenario::idle:
      break;  // idle_session
  }
  ++r.sessions;
  r.messages += got.first;
  r.bytes += got.second;
  if (o.scenario != Scenario::retr) r.latency_ms.push_back(ms_since(started));
}

// Ends the link's watchdog when the session's frame goes away.
struct LinkGuard {
  std::shared_ptr<Link> link;
  ~LinkGuard() {
    link->done = true;
    link->timer.cancel();
  }
};

// Keeps the thread's resumable TLS session up to date, after a clean QUIT.
void remember_session(Worker& w, SSL* ssl) {
  // The session ended cleanly: without this, freeing an SSL that sent no
  // close_notify marks its session not resumable (ssl_clear_bad_session).
  SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_SESSION* s = SSL_get1_session(ssl);
  if (s == nullptr) return;
  if (SSL_SESSION_is_resumable(s) == 0 || s == w.session) {
    SSL_SESSION_free(s);
    return;
  }
  if (w.session != nullptr) SSL_SESSION_free(w.session);
  w.session = s;
}

// Connects (with TLS when asked) and runs `body(pop3)` on the stream.
template <class Body>
asio::awaitable<void> converse(Worker& w, Link& link, std::string& step, std::size_t buffer,
                               Body& body) {
  step = "connect";
  co_await asio::async_connect(link.socket, w.shared.endpoints, asio::use_awaitable);
  link.socket.set_option(tcp::no_delay(true));
  if (!w.shared.o.tls) {
    Pop3<tcp::socket> p(link.socket, link, step, buffer);
    co_await body(p);
    co_return;
  }
  asio::ssl::stream<tcp::socket&> tls(link.socket, w.tls);
  if (w.session != nullptr) SSL_set_session(tls.native_handle(), w.session);
  step = "TLS handshake";
  co_await tls.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
  ++w.result.tls_handshakes;
  if (SSL_session_reused(tls.native_handle()) != 0) ++w.result.tls_resumed;
  Pop3<asio::ssl::stream<tcp::socket&>> p(tls, link, step, buffer);
  co_await body(p);
  remember_session(w, tls.native_handle());
}

// converse() on a new connection with a watchdog; a read, write or connect
// the watchdog ended (deadline, or `hard` passed) fails as "timed out".
template <class Body>
asio::awaitable<void> with_connection(Worker& w, std::string& step, std::size_t buffer,
                                      clock::time_point hard, Body body) {
  auto ex = co_await asio::this_coro::executor;
  auto link = std::make_shared<Link>(ex);
  LinkGuard guard{link};
  link->hard_deadline = hard;
  link->expect_within(limits::bench_reply_timeout);
  asio::co_spawn(ex, watchdog(link), asio::detached);
  try {
    co_await converse(w, *link, step, buffer, body);
  } catch (const std::system_error&) {
    if (!link->timed_out) throw;
    throw std::system_error(std::make_error_code(std::errc::timed_out));
  }
}

// Runs `fn` and files any failure under its step; true if it succeeded.
template <class Fn>
asio::awaitable<bool> recorded(Worker& w, std::string& step, Fn fn) {
  try {
    co_await fn();
    co_return true;
  } catch (const ReplyError& e) {
    ++w.result.errors[error_key(e.step, e.what())];
  } catch (const std::system_error& e) {
    ++w.result.errors[error_key(step, e.code().message())];
  } catch (const std::exception& e) {
    ++w.result.errors[error_key(step, e.what())];
  }
  co_return false;
}

// One closed-loop connection of a busy scenario: session after session
// until the end time.
asio::awaitable<void> busy_loop(Worker& w) {
  auto ex = co_await asio::this_coro::executor;
  while (clock::now() < w.shared.end) {
    std::size_t user_index = w.take_user();
    const std::string& user = w.shared.o.users[user_index];
    auto started = clock::now();
    std::string step;
    bool ok = co_await recorded(w, step, [&]() -> asio::awaitable<void> {
      co_await with_connection(w, step, limits::bench_read_block, clock::time_point::max(),
                               [&](auto& p) { return busy_session(p, w, user, started); });
    });
    w.end_user(user_index);
    if (!ok) {
      asio::steady_timer pause(ex, limits::bench_retry_pause);
      co_await pause.async_wait(use_tuple);
    }
  }
}

// The part of an idle session after its login: waits for the phases,
// sending NOOP every bench_idle_noop, answers the final check, then QUITs.
template <class Stream>
asio::awaitable<void> hold(Pop3<Stream>& p, Worker& w, bool& checked) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::size_t index = w.holders.size();
  w.holders.push_back(&timer);
  struct Unregister {
    Worker& w;
    std::size_t i;
    ~Unregister() { w.holders[i] = nullptr; }
  } unregister{w, index};
  for (;;) {
    Phase phase = w.shared.phase.load();
    if (phase == Phase::release) break;
    if (phase == Phase::check && !checked) {
      co_await p.command("NOOP (final check)", "NOOP\r\n");
      checked = true;
      ++w.result.idle_held;
      --w.shared.unchecked;
      continue;
    }
    p.link().expect_within(limits::bench_idle_noop + limits::bench_reply_timeout);
    timer.expires_after(limits::bench_idle_noop);
    auto [ec] = co_await timer.async_wait(use_tuple);
    if (!ec && w.shared.phase.load() == Phase::holding) co_await p.command("NOOP", "NOOP\r\n");
  }
  co_await p.command("QUIT", "QUIT\r\n");
}

// One idle session: logs in, lets the next login start, and holds. Logins
// chain so that `connections` of them are in flight at once.
asio::awaitable<void> idle_session(Worker& w) {
  Shared& s = w.shared;
  unsigned slot = s.next_slot.fetch_add(1);
  if (slot >= s.o.idle) co_return;
  bool launched = false, counted = false, checked = false;
  auto launch_next = [&] {
    if (launched) return;
    launched = true;
    --s.opening_left;
    asio::co_spawn(w.io, idle_session(w), asio::detached);
  };
  const std::string& user = s.o.users[slot % s.o.users.size()];
  auto started = clock::now();
  if (started >= s.login_deadline) {
    // The server takes too long to let more in: the rest is not tried.
    ++w.result.errors[fmt::format("login: not tried, the login phase ({} s) was over",
                                  limits::bench_idle_login_phase.count())];
    launch_next();
    co_return;
  }
  std::string step;
  co_await recorded(w, step, [&]() -> asio::awaitable<void> {
    co_await with_connection(w, step, limits::bench_idle_read_block, s.login_deadline,
                             [&](auto& p) -> asio::awaitable<void> {
                               co_await p.login(user, s.o.password);
                               p.link().hard_deadline = clock::time_point::max();
                               ++w.result.sessions;
                               w.result.latency_ms.push_back(ms_since(started));
                               ++s.unchecked;
                               counted = true;
                               launch_next();
                               co_await hold(p, w, checked);
                             });
  });
  launch_next();
  if (counted && !checked) --s.unchecked;
}

void run_threads(std::vector<std::unique_ptr<Worker>>& workers) {
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->io.run(); });
  for (auto& t : threads) t.join();
}

// Wakes every held idle session of every thread to look at the phase.
void wake_holders(std::vector<std::unique_ptr<Worker>>& workers) {
  for (auto& w : workers) {
    asio::post(w->io, [&w] {
      for (auto* t : w->holders) {
        if (t != nullptr) t->cancel();
      }
    });
  }
}

// The idle scenario: opens every session, holds them all for the duration,
// checks which still answer, and releases them. Returns the seconds held.
double run_idle(Shared& s, std::vector<std::unique_ptr<Worker>>& workers) {
  using namespace std::chrono_literals;
  constexpr auto poll = 20ms;  // the coordinating thread's look at the counters
  s.opening_left = s.o.idle;
  s.login_deadline = clock::now() + limits::bench_idle_login_phase;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& w : workers) guards.push_back(asio::make_work_guard(w->io));
  unsigned chains = std::max(1u, std::min(s.o.connections, s.o.idle));
  for (unsigned i = 0; i < chains; ++i) {
    Worker& w = *workers[i % workers.size()];
    asio::co_spawn(w.io, idle_session(w), asio::detached);
  }
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->io.run(); });
  // Every login has deadlines, so this ends.
  while (s.opening_left > 0) std::this_thread::sleep_for(poll);
  auto held_from = clock::now();
  if (s.o.on_holding) s.o.on_holding(static_cast<std::uint64_t>(s.unchecked.load()));
  std::this_thread::sleep_for(s.o.duration);
  s.phase = Phase::check;
  wake_holders(workers);
  auto deadline = clock::now() + limits::bench_reply_timeout;
  while (s.unchecked > 0 && clock::now() < deadline) std::this_thread::sleep_for(poll);
  double held = std::chrono::duration<double>(clock::now() - held_from).count();
  s.phase = Phase::release;
  wake_holders(workers);
  guards.clear();
  for (auto& t : threads) t.join();
  return held;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

}  // namespace

void LoadResult::merge(LoadResult&& o) {
  sessions += o.sessions;
  messages += o.messages;
  bytes += o.bytes;
  idle_held += o.idle_held;
  tls_handshakes += o.tls_handshakes;
  tls_resumed += o.tls_resumed;
  for (auto& [k, v] : o.errors) errors[k] += v;
  latency_ms.insert(latency_ms.end(), o.latency_ms.begin(), o.latency_ms.end());
}

std::uint64_t LoadResult::error_count() const {
  std::uint64_t n = 0;
  for (const auto& [k, v] : errors) n += v;
  return n;
}

std::uint64_t raise_fd_limit() {
  rlimit l{};
  if (getrlimit(RLIMIT_NOFILE, &l) != 0) return 0;
  if (l.rlim_cur < l.rlim_max) {
    l.rlim_cur = l.rlim_max;
    setrlimit(RLIMIT_NOFILE, &l);
    getrlimit(RLIMIT_NOFILE, &l);
  }
  return l.rlim_cur;
}

LoadResult run_load(const LoadOptions& o) {
  if (o.users.empty()) throw std::invalid_argument("no user names");
  Shared shared(o);
  {
    asio::io_context io;
    tcp::resolver resolver(io);
    for (const auto& e : resolver.resolve(o.host, std::to_string(o.port))) {
      shared.endpoints.push_back(e.endpoint());
    }
  }
  unsigned busy = o.scenario == Scenario::idle ? std::min(o.connections, o.idle) : o.connections;
  unsigned threads = std::max(1u, std::min(o.threads, busy));
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned t = 0; t < threads; ++t) workers.push_back(std::make_unique<Worker>(shared));
  double cpu_before = cpu_seconds();
  auto start = clock::now();
  shared.end = start + o.duration;
  LoadResult total;
  total.threads = threads;
  if (o.scenario != Scenario::idle) {
    for (unsigned i = 0; i < o.connections; ++i) {
      asio::co_spawn(workers[i % threads]->io, busy_loop(*workers[i % threads]), asio::detached);
    }
    run_threads(workers);
    total.seconds = std::chrono::duration<double>(clock::now() - start).count();
  } else {
    total.seconds = run_idle(shared, workers);
  }
  total.cpu_seconds = cpu_seconds() - cpu_before;
  for (auto& w : workers) total.merge(std::move(w->result));
  return total;
}

}  // namespace popbox::bench
