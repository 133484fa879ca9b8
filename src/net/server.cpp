#include "net/server.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <thread>

#include "admin/socket.hpp"
#include "auth/scram_fake_secret.hpp"
#include "auth/user_source.hpp"
#include "core/limits.hpp"
#include "core/log.hpp"
#include "core/privileges.hpp"
#include "lmtp/local_delivery.hpp"
#include "metrics/endpoint.hpp"
#include "metrics/server_metrics.hpp"
#include "net/admin_service.hpp"
#include "net/blocking.hpp"
#include "net/lmtp_connection.hpp"
#include "net/pop3_connection.hpp"
#include "net/server_state.hpp"
#include "net/systemd.hpp"
#include "net/watched_socket.hpp"
#include "store/make_store.hpp"
#include "store/make_user_source.hpp"

namespace popbox::net {

using asio::ip::tcp;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

enum class Proto { pop3, pop3s, lmtp };
static_assert(static_cast<int>(Proto::pop3s) == static_cast<int>(metrics::Listener::pop3s) &&
              static_cast<int>(Proto::lmtp) == static_cast<int>(metrics::Listener::lmtp));

const char* proto_name(Proto p) {
  return p == Proto::pop3 ? "pop3" : p == Proto::pop3s ? "pop3s" : "lmtp";
}

struct Listener {
  tcp::acceptor acceptor;
  Proto proto;
};

struct Server::Impl {
  Impl(const config::Config& cfg, std::shared_ptr<store::Store> store,
       std::shared_ptr<auth::UserSource> users)
      : threads(cfg.server.threads ? cfg.server.threads
                                   : std::max(1u, std::thread::hardware_concurrency())),
        state(cfg, std::move(store), std::move(users), std::max(4u, 2 * threads)),
        delivery(state.cfg, state.auth, *state.store),
        sets(threads) {
    for (unsigned i = 0; i < threads; ++i) {
      contexts.push_back(std::make_unique<asio::io_context>(1));
      guards.emplace_back(contexts.back()->get_executor());
    }
  }

  void bind(const config::Endpoint& ep, Proto proto);
  void bind_unix(const std::string& path);
  /// Serves on a socket systemd passed, exactly as on one bound here.
  void adopt(const sd::InheritedSocket& s);
  asio::awaitable<void> accept_loop(Listener& l);
  asio::awaitable<void> accept_unix_loop(asio::local::stream_protocol::acceptor& acceptor);
  /// The connection counter of `proto` (LMTP has a budget of its own).
  std::atomic<std::size_t>& counter(Proto proto);
  /// Counts a new connection; false (and nothing counted) when at the limit.
  bool admit(Proto proto);
  /// Runs `session` on context `index`; gives back its slot of `count` at the end.
  template <class Awaitable>
  void spawn(std::size_t index, Awaitable session, std::atomic<std::size_t>& count);
  asio::awaitable<void> signal_loop();
  asio::awaitable<void> shutdown();
  /// Rereads users, OAuth keys and the TLS certificate; logs and returns
  /// each result (SIGHUP and `popbox reload`).
  ReloadReport reload();

  unsigned threads;
  ServerState state;
  lmtp::LocalDelivery delivery;
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<ConnectionSet> sets;  // one per context, touched only on its thread
  std::vector<std::unique_ptr<Listener>> listeners;
  std::vector<std::unique_ptr<asio::local::stream_protocol::acceptor>> unix_acceptors;
  std::string unix_path;  // the LMTP socket file made here ("" when none or inherited)
  std::unique_ptr<metrics::Endpoint> metrics;  ///< [metrics] listen, on threads of its own
  std::size_t next_context = 0;
  std::optional<asio::signal_set> signals;      ///< made in run(), kept until it returns
  std::unique_ptr<admin::Socket> admin_socket;  ///< [admin] socket, if set
  std::unique_ptr<AdminService> admin_service;
};

void Server::Impl::bind(const config::Endpoint& ep, Proto proto) {
  std::error_code ec;
  auto address = asio::ip::make_address(ep.host, ec);
  if (ec) throw std::runtime_error(fmt::format("invalid listen address '{}'", ep.host));
  tcp::endpoint endpoint(address, ep.port);
  auto l = std::make_unique<Listener>(Listener{tcp::acceptor(*contexts[0]), proto});
  auto& a = l->acceptor;
  std::string where = fmt::format("{}:{}", ep.host, ep.port);
  if (a.open(endpoint.protocol(), ec) || a.set_option(tcp::acceptor::reuse_address(true), ec) ||
      a.bind(endpoint, ec) || a.listen(asio::socket_base::max_listen_connections, ec)) {
    throw std::runtime_error(fmt::format("cannot listen on {}: {}", where, ec.message()));
  }
  auto bound = a.local_endpoint();
  core::log_info(fmt::format("event=listening proto={} address={}:{}", proto_name(proto),
                             bound.address().to_string(), bound.port()));
  listeners.push_back(std::move(l));
}

asio::awaitable<void> Server::Impl::accept_loop(Listener& l) {
  for (;;) {
    std::size_t index = next_context++ % contexts.size();
    auto [ec, socket] = co_await l.acceptor.async_accept(*contexts[index], use_tuple);
    if (state.stopping) break;
    if (ec) {
      // EMFILE and friends: back off instead of spinning.
      core::log_warn(fmt::format("event=accept_failed error=\"{}\"", ec.message()));
      asio::steady_timer pause(l.acceptor.get_executor(), limits::accept_backoff);
      co_await pause.async_wait(use_tuple);
      continue;
    }
    // Replies are written whole (one write per burst), so Nagle can only
    // delay them: a TLS record or the tail of a RETR block would wait for
    // the client's (delayed) ACK of the previous one.
    std::error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    if (!admit(l.proto)) {
      metrics::server().refused(static_cast<metrics::Listener>(l.proto), false);
      if (l.proto != Proto::pop3s) {
        std::string_view busy = l.proto == Proto::pop3
                                    ? "-ERR [SYS/TEMP] Too many connections, try again later.\r\n"
                                    : "421 4.3.2 Too many connections, try again later\r\n";
        std::error_code ignored;
        socket.non_blocking(true, ignored);
        socket.write_some(asio::buffer(busy), ignored);
      }
      continue;
    }
    if (l.proto == Proto::lmtp) {
      spawn(index, serve_lmtp(std::move(socket), state, sets[index], delivery),
            state.lmtp_connections);
    } else {
      spawn(index, serve_pop3(std::move(socket), l.proto == Proto::pop3s, state, sets[index]),
            state.connections);
    }
  }
}

std::atomic<std::size_t>& Server::Impl::counter(Proto proto) {
  return proto == Proto::lmtp ? state.lmtp_connections : state.connections;
}

bool Server::Impl::admit(Proto proto) {
  const std::size_t max =
      proto == Proto::lmtp ? state.cfg.lmtp.max_connections : state.cfg.server.max_connections;
  auto& count = counter(proto);
  if (count.fetch_add(1) >= max) {
    --count;
    return false;
  }
  return true;
}

template <class Awaitable>
void Server::Impl::spawn(std::size_t index, Awaitable session, std::atomic<std::size_t>& count) {
  asio::co_spawn(*contexts[index], std::move(session), [&count](std::exception_ptr e) {
    --count;
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      // The text may quote what the client sent: escaped like a client value.
      core::log_error(
          fmt::format("event=session_crashed error=\"{}\"", core::log_escape(ex.what())));
    }
  });
}

void Server::Impl::bind_unix(const std::string& path) {
  using asio::local::stream_protocol;
  // A socket file left by a previous run would make bind() fail; remove it
  // only if it is a socket, never a regular file someone put there.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
  auto acceptor = std::make_unique<stream_protocol::acceptor>(*contexts[0]);
  std::error_code ec;
  stream_protocol::endpoint endpoint(path);
  if (acceptor->open(endpoint.protocol(), ec) || acceptor->bind(endpoint, ec) ||
      acceptor->listen(asio::socket_base::max_listen_connections, ec)) {
    throw std::runtime_error(fmt::format("cannot listen on {}: {}", path, ec.message()));
  }
  unix_acceptors.push_back(std::move(acceptor));
  unix_path = path;
  // Group read/write, like Dovecot's lmtp listener: the MTA's group gets in.
  ::chmod(path.c_str(), 0660);
  core::log_info(fmt::format("event=listening proto=lmtp address=unix:{}", path));
}

void Server::Impl::adopt(const sd::InheritedSocket& s) {
  std::error_code ec;
  if (s.family == AF_UNIX) {
    using asio::local::stream_protocol;
    auto acceptor = std::make_unique<stream_protocol::acceptor>(*contexts[0]);
    if (acceptor->assign(stream_protocol(), s.fd, ec)) {
      throw std::runtime_error(fmt::format("cannot use socket fd {}: {}", s.fd, ec.message()));
    }
    auto path = acceptor->local_endpoint(ec).path();
    core::log_info(fmt::format("event=listening proto=lmtp address=unix:{} inherited=yes",
                               core::log_escape(path)));
    unix_acceptors.push_back(std::move(acceptor));
    return;
  }
  const Proto proto = s.role == sd::SocketRole::pop3    ? Proto::pop3
                      : s.role == sd::SocketRole::pop3s ? Proto::pop3s
                                                        : Proto::lmtp;
  if (proto == Proto::pop3s && !state.cfg.tls.enabled) {
    throw std::runtime_error(
        fmt::format("systemd passed socket fd {} named 'pop3s' but [tls] is not configured", s.fd));
  }
  auto l = std::make_unique<Listener>(Listener{tcp::acceptor(*contexts[0]), proto});
  if (l->acceptor.assign(s.family == AF_INET6 ? tcp::v6() : tcp::v4(), s.fd, ec)) {
    throw std::runtime_error(fmt::format("cannot use socket fd {}: {}", s.fd, ec.message()));
  }
  auto bound = l->acceptor.local_endpoint(ec);
  core::log_info(fmt::format("event=listening proto={} address={}:{} inherited=yes",
                             proto_name(proto), bound.address().to_string(), bound.port()));
  listeners.push_back(std::move(l));
}

asio::awaitable<void> Server::Impl::accept_unix_loop(
    asio::local::stream_protocol::acceptor& acceptor) {
  for (;;) {
    std::size_t index = next_context++ % contexts.size();
    auto [ec, socket] = co_await acceptor.async_accept(*contexts[index], use_tuple);
    if (state.stopping) break;
    if (ec) {
      core::log_warn(fmt::format("event=accept_failed error=\"{}\"", ec.message()));
      asio::steady_timer pause(acceptor.get_executor(), limits::accept_backoff);
      co_await pause.async_wait(use_tuple);
      continue;
    }
    if (!admit(Proto::lmtp)) {
      metrics::server().refused(metrics::Listener::lmtp, false);
      continue;
    }
    spawn(index, serve_lmtp(std::move(socket), state, sets[index], delivery),
          state.lmtp_connections);
  }
}

ReloadReport Server::Impl::reload() {
  // Both callers (SIGHUP, `popbox reload`) tell systemd the same way.
  sd::notify_reloading();
  ReloadReport report;
  if (auto err = state.auth.reload()) {
    report.items.push_back({"users", false, *err});
  } else {
    report.items.push_back({"users", true, ""});
  }
  if (state.oauth) {
    if (auto err = state.oauth->reload()) {
      report.items.push_back({"oauth_keys", false, *err});
    } else {
      report.items.push_back({"oauth_keys", true, ""});
    }
  }
  if (state.cfg.tls.enabled) {
    try {
      state.tls.set(make_tls_context(state.cfg.tls));
      report.items.push_back({"tls", true, ""});
    } catch (const std::exception& e) {
      report.items.push_back({"tls", false, e.what()});
    }
  }
  for (const auto& item : report.items) {
    if (item.ok) {
      core::log_info(fmt::format("event=reload what={} result=ok", item.what));
    } else {
      core::log_error(fmt::format("event=reload what={} result=failed error=\"{}\"", item.what,
                                  core::log_escape(item.error)));
    }
  }
  sd::notify_ready("Serving (reloaded)");
  return report;
}

asio::awaitable<void> Server::Impl::signal_loop() {
  for (;;) {
    auto [ec, sig] = co_await signals->async_wait(use_tuple);
    if (ec) co_return;
    if (sig == SIGHUP) {
      auto work = [this] { return reload(); };
      co_await run_blocking(state.pool, std::move(work));
      continue;
    }
    sd::notify_stopping("Stopping: finishing the sessions' current commands");
    core::log_info(fmt::format("event=shutdown signal={}", sig == SIGINT ? "INT" : "TERM"));
    co_await shutdown();
    co_return;
  }
}

// Stops accepting, lets sessions finish their current command (a commit in
// progress always completes), then cuts what is left after the grace period.
asio::awaitable<void> Server::Impl::shutdown() {
  state.stopping = true;
  if (admin_socket) admin_socket->close();
  for (auto& l : listeners) {
    std::error_code ignored;
    l->acceptor.close(ignored);
  }
  for (auto& a : unix_acceptors) {
    std::error_code ignored;
    a->close(ignored);
  }
  if (!unix_path.empty()) ::unlink(unix_path.c_str());  // never a socket systemd made
  for (std::size_t i = 0; i < contexts.size(); ++i) {
    asio::post(*contexts[i], [set = &sets[i]] { set->request_stop(); });
  }
  auto deadline = std::chrono::steady_clock::now() + limits::shutdown_grace;
  asio::steady_timer tick(*contexts[0]);
  bool forced = false;
  while (state.connections.load() + state.lmtp_connections.load() > 0) {
    if (!forced && std::chrono::steady_clock::now() >= deadline) {
      forced = true;
      for (std::size_t i = 0; i < contexts.size(); ++i) {
        asio::post(*contexts[i], [set = &sets[i]] { set->close_all(); });
      }
    }
    tick.expires_after(limits::shutdown_poll);
    co_await tick.async_wait(use_tuple);
  }
  for (auto& g : guards) g.reset();
}

namespace {

// Raises the open-files limit to its hard limit and logs how many sessions
// that allows; warns when the configured connections do not fit.
void raise_fd_limit(const config::Config& cfg) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  const std::size_t sessions = limits::sessions_for_fd_limit(rl.rlim_cur);
  const std::size_t wanted = cfg.server.max_connections + cfg.lmtp.max_connections;
  core::log_info(fmt::format("event=fd_limit open_files={} sessions={}",
                             static_cast<std::uint64_t>(rl.rlim_cur), sessions));
  if (sessions < wanted) {
    core::log_warn(fmt::format(
        "event=fd_limit_low sessions={} wanted={} hint=\"raise the open files hard limit "
        "(LimitNOFILE=) or lower max_connections\"",
        sessions, wanted));
  }
}

// Binds [metrics] listen (before the privilege drop); serves from run().
std::unique_ptr<metrics::Endpoint> start_metrics(const config::Endpoint& ep) {
  auto render = [] {
    auto& m = metrics::server();
    m.sample_process();
    return m.render();
  };
  auto endpoint = std::make_unique<metrics::Endpoint>(ep.host, ep.port, std::move(render));
  core::log_info(
      fmt::format("event=listening proto=metrics address={}:{}", ep.host, endpoint->port()));
  if (metrics::is_public_listen(ep.host)) {
    core::log_warn(fmt::format(
        "event=metrics_public address={}:{} hint=\"not a loopback address: whoever reaches it "
        "reads the metrics; listen on 127.0.0.1 or firewall the port\"",
        ep.host, endpoint->port()));
  }
  return endpoint;
}

}  // namespace

Server::Server(config::Config cfg) : Server(cfg, store::make_store(cfg)) {}

Server::Server(config::Config cfg, std::shared_ptr<store::Store> store)
    : Server(cfg, std::move(store), store::make_user_source(cfg)) {}

Server::Server(config::Config cfg, std::shared_ptr<store::Store> store,
               std::shared_ptr<auth::UserSource> users) {
  if (!store) throw std::invalid_argument("net::Server needs a store");
  if (!users) throw std::invalid_argument("net::Server needs a user source");
  core::set_log_level(cfg.log_level == "debug"   ? core::LogLevel::debug
                      : cfg.log_level == "warn"  ? core::LogLevel::warn
                      : cfg.log_level == "error" ? core::LogLevel::error
                                                 : core::LogLevel::info);
  raise_fd_limit(cfg);
  metrics::server();  // made now, not by a session's first event
  impl_ = std::make_unique<Impl>(cfg, std::move(store), std::move(users));
  auto& st = impl_->state;
  st.auth.load();
  try {
    const auto& tls_key = st.cfg.tls.enabled ? st.cfg.tls.key : std::filesystem::path();
    if (auto m = auth::load_scram_fake_secret(st.cfg.auth.scram_fake_secret_file, tls_key)) {
      st.auth.set_scram_fake_secret(*m);
      OPENSSL_cleanse(m->data(), m->size());
    }
  } catch (const std::exception& e) {
    throw config::ConfigError(fmt::format("[auth] SCRAM fake-salt secret: {}", e.what()));
  }
  if (st.oauth) {
    try {
      st.oauth->load();
    } catch (const std::exception& e) {
      throw config::ConfigError(fmt::format("[auth.oauth]: {}", e.what()));
    }
  }
  if (st.cfg.tls.enabled) st.tls.set(make_tls_context(st.cfg.tls));
  // Socket activation: a protocol with a socket from systemd is served
  // there only; its config listeners are not bound (docs/systemd.md).
  auto inherited = sd::take_listen_fds();
  auto passed = [&inherited](sd::SocketRole role) {
    return std::any_of(inherited.begin(), inherited.end(),
                       [role](const sd::InheritedSocket& s) { return s.role == role; });
  };
  for (const auto& s : inherited) impl_->adopt(s);
  if (!passed(sd::SocketRole::pop3)) {
    for (const auto& ep : st.cfg.server.listen) impl_->bind(ep, Proto::pop3);
  }
  if (!passed(sd::SocketRole::pop3s)) {
    for (const auto& ep : st.cfg.server.listen_tls) impl_->bind(ep, Proto::pop3s);
  }
  if (!passed(sd::SocketRole::lmtp)) {
    for (const auto& ep : st.cfg.lmtp.listen) impl_->bind(ep, Proto::lmtp);
    if (!st.cfg.lmtp.unix_path.empty()) impl_->bind_unix(st.cfg.lmtp.unix_path);
  }
  if (const auto& ep = st.cfg.metrics.listen) impl_->metrics = start_metrics(*ep);
  if (!st.cfg.admin.socket.empty()) {
    impl_->admin_socket = std::make_unique<admin::Socket>(*impl_->contexts[0], st.cfg.admin.socket);
  }
}

void Server::set_admin_owner(unsigned uid, unsigned gid) {
  if (impl_->admin_socket) impl_->admin_socket->set_owner(uid, gid, impl_->state.cfg.admin.group);
}

void Server::set_pop3_hooks(std::shared_ptr<Pop3Hooks> hooks) {
  impl_->state.hooks = std::move(hooks);
}

Server::~Server() = default;

const std::string& Server::unix_socket_path() const {
  return impl_->unix_path;
}

int Server::run() {
  ::signal(SIGPIPE, SIG_IGN);
  auto& impl = *impl_;
  // Made now, after the privilege drop, so they carry what it kept. Only
  // the mail pool acts for mailbox owners: every thread made after it (the
  // auth pool, the event threads, this one) gives up every capability.
  impl.state.pool.start();
  core::drop_thread_capabilities();
  impl.state.auth_pool.start();
  if (impl.metrics) impl.metrics->start();
  for (auto& l : impl.listeners) {
    asio::co_spawn(*impl.contexts[0], impl.accept_loop(*l), asio::detached);
  }
  for (auto& a : impl.unix_acceptors) {
    asio::co_spawn(*impl.contexts[0], impl.accept_unix_loop(*a), asio::detached);
  }
  // Caught from here until run() returns: a SIGHUP right after READY, or
  // one during the shutdown grace, must not take its default action (exit).
  impl.signals.emplace(*impl.contexts[0], SIGINT, SIGTERM, SIGHUP);
  asio::co_spawn(*impl.contexts[0], impl.signal_loop(), asio::detached);
  if (impl.admin_socket) {
    std::vector<asio::io_context*> contexts;
    for (auto& c : impl.contexts) contexts.push_back(c.get());
    // The sessions' own store (its UIDL format): expunge commits like a session.
    impl.admin_service =
        std::make_unique<AdminService>(impl.state, impl.state.store->maildir_paths(),
                                       std::move(contexts), [&impl] { return impl.reload(); });
    impl.admin_socket->start(
        [service = impl.admin_service.get()](const admin::Request& r, const admin::Peer& p) {
          return service->handle(r, p);
        });
  }
  // Every listener is up and privileges are dropped (serve drops them
  // before run): Type=notify units become active now.
  sd::notify_ready(
      fmt::format("Serving on {} listener(s)", impl.listeners.size() + impl.unix_acceptors.size()));
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < impl.contexts.size(); ++i) {
    threads.emplace_back([ctx = impl.contexts[i].get()] { ctx->run(); });
  }
  impl.contexts[0]->run();
  for (auto& t : threads) t.join();
  impl.metrics.reset();  // scrapes went on during the grace period
  impl.state.pool.join();
  impl.state.auth_pool.join();
  core::log_info("event=stopped");
  return 0;
}

}  // namespace popbox::net
