// popbox sandbox: throwaway test inboxes for developers (issue 12). SMTP in
// (catch-all, STARTTLS, AUTH), inboxes under --data (or in memory with
// --ephemeral: no file at all), a self-signed certificate made on first
// start, POP3 (STLS) and POP3S out through the real server (net::Server
// over sandbox::Pop3Store, Pop3Users and the Pop3Faults hooks), the HTTP
// API and web UI on --http, served until SIGINT/SIGTERM.
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ssl.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>

#include "cli/verbs.hpp"
#include "config/config.hpp"
#include "core/limits.hpp"
#include "core/log.hpp"
#include "core/version.hpp"
#include "net/server.hpp"
#include "net/smtp_connection.hpp"
#include "net/watched_socket.hpp"
#include "sandbox/api/http_api.hpp"
#include "sandbox/inbox_hub.hpp"
#include "sandbox/pop3_faults.hpp"
#include "sandbox/pop3_store.hpp"
#include "sandbox/pop3_users.hpp"
#include "sandbox/self_signed.hpp"
#include "sandbox/smtp_backend.hpp"
#include "sandbox/web/web_assets.hpp"

namespace popbox::cli {
namespace {

namespace fs = std::filesystem;
using asio::ip::tcp;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

struct SandboxOptions {
  std::string data;
  bool ephemeral = false;
  std::string smtp = "127.0.0.1:2525", pop3 = "127.0.0.1:1110", pop3s = "127.0.0.1:1995",
              http = "127.0.0.1:8025";
  std::string api_token;
  bool strict_auth = false;
  std::size_t max_messages = 500;
  std::string max_total_size = "1G", max_message_size = "25M";
};

int fail(int code, const std::string& why) {
  std::cerr << "popbox sandbox: " << why << "\n";
  return code;
}

std::string default_data_dir() {
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) {
    return (fs::path(xdg) / "popbox-sandbox").string();
  }
  const char* home = std::getenv("HOME");
  return (fs::path(home && *home ? home : "/tmp") / ".local/share/popbox-sandbox").string();
}

// "127.0.0.1:2525", "[::1]:2525", "localhost:2525" -> endpoint.
std::optional<tcp::endpoint> endpoint_of(std::string text) {
  if (text.starts_with("localhost:")) text = "127.0.0.1" + text.substr(9);
  auto ep = config::parse_endpoint(text);
  if (!ep) return std::nullopt;
  std::error_code ec;
  auto address = asio::ip::make_address(ep->host, ec);
  if (ec) return std::nullopt;
  return tcp::endpoint(address, ep->port);
}

std::string show(const tcp::endpoint& ep) {
  return ep.address().is_v6() ? fmt::format("[{}]:{}", ep.address().to_string(), ep.port())
                              : fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

std::string http_url(const tcp::endpoint& ep) {
  return "http://" + show(ep) + "/";
}

std::shared_ptr<asio::ssl::context> smtp_tls(const sandbox::CertificatePaths& cert) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->use_certificate_chain_file(cert.cert);
  ctx->use_private_key_file(cert.key, asio::ssl::context::pem);
  return ctx;
}

sandbox::Endpoint api_endpoint(const tcp::endpoint& ep) {
  return {ep.address().to_string(), ep.port()};
}

// What GET /api/v1/settings shows: the bound endpoints.
sandbox::ApiSettings api_settings(const tcp::endpoint& smtp, const tcp::endpoint& pop3,
                                  const tcp::endpoint& pop3s, bool strict_auth) {
  sandbox::ApiSettings s;
  s.smtp = api_endpoint(smtp);
  s.pop3 = api_endpoint(pop3);
  s.pop3s = api_endpoint(pop3s);
  s.strict_auth = strict_auth;
  s.version = std::string(popbox::version);
  s.web_assets = [](std::string_view path) -> std::optional<sandbox::WebAssetView> {
    if (const auto* a = sandbox::find_web_asset(path))
      return sandbox::WebAssetView{a->content_type, a->body};
    return std::nullopt;
  };
  return s;
}

// Port 0 asks for any free port. net::Server binds what its config names
// and does not say which port it got, so one is picked here: bound and
// released at once (the kernel does not hand it out again so soon).
tcp::endpoint pick_port(tcp::endpoint ep) {
  if (ep.port() != 0) return ep;
  asio::io_context io;
  tcp::acceptor probe(io, ep);
  return probe.local_endpoint();
}

// The POP3 side as `popbox serve` would run it from a config file: STLS on
// `pop3`, implicit TLS on `pop3s`, the sandbox's certificate, one event
// thread. No credential cache: an inbox's password may change with the
// inbox (deleted and made again), and a cached login would outlive it.
config::Config pop3_config(const tcp::endpoint& pop3, const tcp::endpoint& pop3s,
                           const sandbox::CertificatePaths& cert) {
  config::Config cfg;
  cfg.server.listen = {{pop3.address().to_string(), pop3.port()}};
  cfg.server.listen_tls = {{pop3s.address().to_string(), pop3s.port()}};
  cfg.server.hostname = "popbox-sandbox";
  cfg.server.threads = 1;
  cfg.server.max_connections = limits::sandbox_pop3_connections;
  cfg.limits.max_connections_per_ip = limits::sandbox_pop3_connections;
  cfg.lmtp.max_connections = 0;  // no LMTP listener: mail comes in over SMTP
  cfg.tls.enabled = true;
  cfg.tls.cert = cert.cert;
  cfg.tls.key = cert.key;
  cfg.tls.certs = {cert.cert};
  cfg.tls.keys = {cert.key};
  cfg.auth.cache_ttl = std::chrono::milliseconds(0);
  return cfg;
}

// net::Server::run() on a thread of its own; it stops on the SIGINT/SIGTERM
// that stops the sandbox.
class Pop3Thread {
 public:
  explicit Pop3Thread(net::Server& server)
      : thread_([this, &server] {
          try {
            server.run();
          } catch (const std::exception& e) {
            core::log_error(
                fmt::format("sandbox event=pop3_failed error=\"{}\"", core::log_escape(e.what())));
          }
          done_ = true;
        }) {}
  /// Waits for the server to end. A signal that came before its run()
  /// listened for signals stopped only the sandbox: it is repeated until
  /// the server ends (the sandbox's own signal set still catches them).
  ~Pop3Thread() {
    while (!done_) {
      ::kill(::getpid(), SIGTERM);
      std::this_thread::sleep_for(limits::shutdown_poll);
    }
    thread_.join();
  }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// The running sandbox: one event thread, the blocking pool, the listeners.
class Runtime {
 public:
  Runtime(sandbox::InboxHub& hub, sandbox::HubSmtpBackend& backend,
          std::shared_ptr<asio::ssl::context> tls, smtp::SessionOptions options)
      : pool_(2), smtp_{pool_, std::move(tls), backend, std::move(options)}, hub_(hub) {}

  /// Binds the SMTP listener (throws std::system_error); returns the bound endpoint.
  tcp::endpoint listen_smtp(const tcp::endpoint& ep) {
    smtp_acceptor_.emplace(io_);
    smtp_acceptor_->open(ep.protocol());
    smtp_acceptor_->set_option(tcp::acceptor::reuse_address(true));
    smtp_acceptor_->bind(ep);
    smtp_acceptor_->listen();
    return smtp_acceptor_->local_endpoint();
  }

  /// Serves until SIGINT or SIGTERM, then lets sessions end (with a grace).
  void run() {
    asio::co_spawn(io_, accept_loop(), asio::detached);
    asio::co_spawn(io_, sweep_loop(), asio::detached);
    asio::co_spawn(io_, signal_loop(), asio::detached);
    io_.run();
    pool_.join();
  }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await smtp_acceptor_->async_accept(use_tuple);
      if (stopping_) co_return;
      if (ec) {
        asio::steady_timer pause(io_, limits::accept_backoff);
        co_await pause.async_wait(use_tuple);
        continue;
      }
      asio::co_spawn(io_, net::serve_smtp(std::move(socket), smtp_, set_), asio::detached);
    }
  }

  asio::awaitable<void> sweep_loop() {
    asio::steady_timer timer(io_);
    while (!stopping_) {
      timer.expires_after(limits::sandbox_sweep_interval);
      co_await timer.async_wait(use_tuple);
      if (stopping_) break;
      sandbox::InboxHub* hub = &hub_;
      asio::post(pool_, [hub] { hub->sweep(); });
    }
  }

  asio::awaitable<void> signal_loop() {
    auto [ec, sig] = co_await signals_.async_wait(use_tuple);
    core::log_info(fmt::format("sandbox event=shutdown signal={}", sig == SIGINT ? "INT" : "TERM"));
    stopping_ = true;
    std::error_code ignored;
    if (smtp_acceptor_) smtp_acceptor_->close(ignored);
    set_.request_stop();
    asio::steady_timer timer(io_);
    const auto until = std::chrono::steady_clock::now() + limits::shutdown_grace;
    while (!set_.live.empty() && std::chrono::steady_clock::now() < until) {
      timer.expires_after(limits::shutdown_poll);
      co_await timer.async_wait(use_tuple);
    }
    set_.close_all();
    io_.stop();
  }

  asio::io_context io_{1};
  // Made before the addresses are printed: a signal right after them stops
  // the sandbox cleanly.
  asio::signal_set signals_{io_, SIGINT, SIGTERM};
  asio::thread_pool pool_;
  net::SmtpContext smtp_;
  net::ConnectionSet set_;
  sandbox::InboxHub& hub_;
  std::optional<tcp::acceptor> smtp_acceptor_;
  bool stopping_ = false;
};

int run_sandbox(SandboxOptions o) {
  ::signal(SIGPIPE, SIG_IGN);
  if (o.ephemeral && !o.data.empty())
    return fail(EX_USAGE, "--data and --ephemeral exclude each other");
  auto max_total = config::parse_size(o.max_total_size);
  auto max_size = config::parse_size(o.max_message_size);
  if (!max_total) return fail(EX_USAGE, "--max-total-size: not a size: " + o.max_total_size);
  if (!max_size || *max_size == 0) {
    return fail(EX_USAGE, "--max-message-size: not a size: " + o.max_message_size);
  }
  struct Listen {
    const char* flag;
    const std::string& text;
    tcp::endpoint ep;
  };
  std::vector<Listen> listens{{"--smtp", o.smtp, {}},
                              {"--pop3", o.pop3, {}},
                              {"--pop3s", o.pop3s, {}},
                              {"--http", o.http, {}}};
  for (auto& l : listens) {
    auto ep = endpoint_of(l.text);
    if (!ep) return fail(EX_USAGE, fmt::format("{}: not HOST:PORT: {}", l.flag, l.text));
    if (!ep->address().is_loopback() && o.api_token.empty()) {
      return fail(EX_USAGE,
                  fmt::format("{} {} is not a loopback address: anyone who reaches it could read "
                              "the inboxes; give --api-token (or listen on 127.0.0.1)",
                              l.flag, l.text));
    }
    l.ep = *ep;
  }

  // --ephemeral keeps everything in memory: no directory, no lock file.
  const std::string dir = o.ephemeral ? "" : o.data.empty() ? default_data_dir() : o.data;
  if (!o.ephemeral) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return fail(EX_CANTCREAT, fmt::format("cannot create {}: {}", dir, ec.message()));
    ::chmod(dir.c_str(), 0700);
    // One sandbox per data directory (the descriptor is kept until exit).
    int lock_fd = ::open((fs::path(dir) / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
      return fail(EX_TEMPFAIL, fmt::format("{} is in use by another popbox sandbox", dir));
    }
  }

  try {
    sandbox::CertificatePaths cert =
        o.ephemeral ? sandbox::memory_certificate() : sandbox::ensure_certificate(dir);
    sandbox::Limits limits;
    limits.max_messages = o.max_messages;
    limits.max_total_bytes = *max_total;
    limits.max_message_size = *max_size;
    sandbox::InboxHub hub(
        o.ephemeral ? sandbox::make_memory_storage() : sandbox::make_maildir_storage(dir), limits);
    sandbox::HubSmtpBackend backend(hub, o.strict_auth);
    smtp::SessionOptions so;
    so.hostname = "popbox-sandbox";
    so.max_message_size = *max_size;
    so.strict_auth = o.strict_auth;
    Runtime runtime(hub, backend, smtp_tls(cert), so);
    tcp::endpoint smtp = runtime.listen_smtp(listens[0].ep);
    const tcp::endpoint pop3 = pick_port(listens[1].ep), pop3s = pick_port(listens[2].ep);
    net::Server pop3_server(pop3_config(pop3, pop3s, cert),
                            std::make_shared<sandbox::Pop3Store>(hub),
                            std::make_shared<sandbox::Pop3Users>(hub, o.strict_auth));
    pop3_server.set_pop3_hooks(std::make_shared<sandbox::Pop3Faults>(hub));
    const tcp::endpoint& http_ep = listens[3].ep;
    sandbox::HttpApi api(hub, http_ep.address().to_string(), http_ep.port(), o.api_token,
                         api_settings(smtp, pop3, pop3s, o.strict_auth));
    api.start();
    std::cout << "data " << (o.ephemeral ? "- (ephemeral: in memory, nothing written)" : dir)
              << "\n"
              << "smtp " << show(smtp) << " (STARTTLS)\n"
              << "pop3 " << show(pop3) << " (STLS)\n"
              << "pop3s " << show(pop3s) << " (TLS)\n"
              << "http " << http_url(tcp::endpoint(http_ep.address(), api.port())) << "\n"
              << std::flush;
    {
      Pop3Thread pop3_thread(pop3_server);
      runtime.run();
    }
    api.stop();
  } catch (const std::system_error& e) {
    return fail(EX_UNAVAILABLE, e.what());
  } catch (const std::exception& e) {
    return fail(EX_SOFTWARE, e.what());
  }
  return 0;
}

}  // namespace

void add_sandbox(CLI::App& app, int& rc) {
  auto o = std::make_shared<SandboxOptions>();
  auto* cmd = app.add_subcommand(
      "sandbox", "Run throwaway test inboxes: SMTP in (catch-all), POP3 out, until Ctrl-C");
  cmd->add_option("--data", o->data,
                  "Data directory (default $XDG_DATA_HOME/popbox-sandbox or "
                  "~/.local/share/popbox-sandbox)");
  cmd->add_flag("--ephemeral", o->ephemeral,
                "Keep everything in memory: no data directory, nothing written");
  cmd->add_option("--smtp", o->smtp, "SMTP listener HOST:PORT (port 0: any free port)")
      ->capture_default_str();
  cmd->add_option("--pop3", o->pop3, "POP3 (STLS) listener HOST:PORT (port 0: any free port)")
      ->capture_default_str();
  cmd->add_option("--pop3s", o->pop3s, "POP3S (implicit TLS) listener HOST:PORT (port 0: any)")
      ->capture_default_str();
  cmd->add_option("--http", o->http, "HTTP API and web UI HOST:PORT")->capture_default_str();
  cmd->add_option("--api-token", o->api_token,
                  "Bearer token the HTTP API requires (needed for non-loopback listeners)");
  cmd->add_flag("--strict-auth", o->strict_auth,
                "AUTH needs the inbox's own password (inboxes without one refuse logins)");
  cmd->add_option("--max-messages", o->max_messages,
                  "Messages per inbox (oldest dropped; 0: no cap)")
      ->capture_default_str();
  cmd->add_option("--max-total-size", o->max_total_size,
                  "Size of all inboxes together (oldest dropped; 0: no cap)")
      ->capture_default_str();
  cmd->add_option("--max-message-size", o->max_message_size, "Largest message accepted")
      ->capture_default_str();
  cmd->callback([o, &rc] { rc = run_sandbox(*o); });
}

}  // namespace popbox::cli
