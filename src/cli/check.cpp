// popbox check: validates a configuration the way `serve` would use it,
// without binding ports, and prints every problem found.
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "auth/jwt.hpp"
#include "auth/passwd_file.hpp"
#include "auth/scram_fake_secret.hpp"
#include "cli/verbs.hpp"
#include "config/config.hpp"
#include "core/fd_io.hpp"
#include "core/limits.hpp"
#include "core/privileges.hpp"
#include "metrics/endpoint.hpp"
#include "net/tls_context.hpp"
#include "store/make_store.hpp"
#include "store/make_user_source.hpp"

namespace popbox::cli {
namespace {

// The directory the Maildir template starts in ("/var/mail" for
// "/var/mail/%d/%n/Maildir"), or its nearest existing parent.
std::string mail_root(const std::string& maildir_template) {
  std::string root = maildir_template.substr(0, maildir_template.find('%'));
  std::size_t slash = root.rfind('/');
  root = slash == 0 || slash == std::string::npos ? "/" : root.substr(0, slash);
  while (root != "/" && ::access(root.c_str(), F_OK) != 0) {
    slash = root.rfind('/');
    root = slash == 0 ? "/" : root.substr(0, slash);
  }
  return root;
}

// Lists what `user` (the process's current identity) cannot do that a
// running server needs: re-read the passwd-file, cert and key and the OAuth
// public keys on SIGHUP, create Maildirs below the mail root.
std::vector<std::string> access_problems(const config::Config& cfg, const std::string& user) {
  std::vector<std::string> out;
  auto readable = [&](const std::filesystem::path& p, const char* what) {
    if (p.empty() || ::access(p.c_str(), R_OK) == 0) return;
    out.push_back(fmt::format("[server] user {} cannot read the {} {} (SIGHUP re-reads it): {}",
                              user, what, p.string(), std::strerror(errno)));
  };
  readable(cfg.auth.passwd_file, "passwd-file");
  if (cfg.tls.enabled) {
    for (const auto& cert : cfg.tls.certs) readable(cert, "TLS certificate");
    for (const auto& key : cfg.tls.keys) readable(key, "TLS key");
  }
  if (const auto& o = cfg.auth.oauth) {
    for (const auto& key : o->public_keys) readable(key, "[auth.oauth] public key");
    readable(o->jwks_file, "[auth.oauth] jwks_file");
  }
  std::string root = mail_root(cfg.mail.maildir);
  if (::access(root.c_str(), W_OK | X_OK) != 0) {
    out.push_back(fmt::format("[server] user {} cannot write the mail root {}: {}", user, root,
                              std::strerror(errno)));
  }
  return out;
}

// Runs access_problems as `who` in a child process (the parent stays root),
// passing the lines back through a pipe.
std::vector<std::string> access_problems_as(const config::Config& cfg, const core::RunAs& who) {
  int fds[2];
  if (::pipe(fds) != 0) return {std::string("cannot check access: pipe: ") + std::strerror(errno)};
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return {std::string("cannot check access: fork: ") + std::strerror(errno)};
  }
  if (pid == 0) {
    ::close(fds[0]);
    std::string text;
    try {
      core::drop_privileges(who, false);
      for (const auto& p : access_problems(cfg, who.user)) text += p + "\n";
    } catch (const std::exception& e) {
      text = std::string("cannot switch to [server] user: ") + e.what() + "\n";
    }
    (void)core::write_all(fds[1], text);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::vector<std::string> out;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

int run_check(const std::string& file) {
  config::Config cfg;
  try {
    cfg = config::load(file);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return EX_CONFIG;
  }
  int problems = 0;
  auto problem = [&](const std::string& what) {
    std::cerr << "error: " << what << "\n";
    ++problems;
  };
  try {
    if (cfg.auth.source == config::UserSource::passwd_file) {
      auto users = auth::PasswdFile::load(cfg.auth.passwd_file);
      for (const auto& w : users.warnings()) std::cerr << "warning: " << w << "\n";
      if (users.entries().empty()) {
        std::cerr << "warning: " << cfg.auth.passwd_file.string() << " has no users\n";
      }
    } else {
      // The same source serve loads: the users table must be readable now
      // (serve itself starts while the database is unreachable).
      if (auto err = store::make_user_source(cfg)->reload()) problem(*err);
    }
  } catch (const std::exception& e) {
    problem(e.what());
  }
  if (cfg.tls.enabled) {
    try {
      net::make_tls_context(cfg.tls);
    } catch (const std::exception& e) {
      problem(e.what());
    }
  }
  if (const auto& o = cfg.auth.oauth) {
    try {
      auth::load_keys(o->public_keys, o->jwks_file);
    } catch (const std::exception& e) {
      problem(std::string("[auth.oauth]: ") + e.what());
    }
  }
  try {
    const auto& tls_key = cfg.tls.enabled ? cfg.tls.key : std::filesystem::path();
    if (!auth::load_scram_fake_secret(cfg.auth.scram_fake_secret_file, tls_key)) {
      std::cerr << "warning: no [auth] scram_fake_secret_file and no [tls] key: made-up SCRAM "
                   "salts of unknown users change at every restart, which tells who exists\n";
    }
  } catch (const std::exception& e) {
    // An unreadable TLS key is reported with [tls] above.
    if (!cfg.auth.scram_fake_secret_file.empty()) {
      problem(std::string("[auth] scram_fake_secret_file: ") + e.what());
    }
  }
  try {
    if (core::running_as_root() && cfg.server.user.empty()) {
      std::cerr << "warning: serve and deliver started as root will refuse to run (exit 78) "
                   "without [server] user\n";
    } else if (core::running_as_root()) {
      for (const auto& p :
           access_problems_as(cfg, core::resolve_run_as(cfg.server.user, cfg.server.group))) {
        problem(p);
      }
    } else if (!cfg.server.user.empty()) {
      auto who = core::resolve_run_as(cfg.server.user, cfg.server.group);
      if (who.uid == ::getuid()) {
        for (const auto& p : access_problems(cfg, who.user)) problem(p);
      } else {
        std::cerr << "warning: not run as root or as [server] user " << who.user
                  << ": its access to files was not checked\n";
      }
    }
  } catch (const std::exception& e) {
    problem(e.what());
  }
  try {
    store::make_store(cfg);
  } catch (const std::exception& e) {
    problem(
        std::string(cfg.store.backend == config::StoreBackend::maildir ? "[mail]: " : "[store]: ") +
        e.what());
  }
  if (cfg.server.idle_timeout < limits::min_rfc_idle_timeout) {
    std::cerr << "warning: [server] idle_timeout is below the 10 minutes RFC 1939 requires\n";
  }
  if (cfg.metrics.listen && metrics::is_public_listen(cfg.metrics.listen->host)) {
    std::cerr << "warning: [metrics] listen " << cfg.metrics.listen->host
              << " is not a loopback address: whoever reaches it reads the metrics; listen on "
                 "127.0.0.1 or firewall the port\n";
  }
  if (cfg.auth.allow_plaintext == config::Plaintext::always && !cfg.tls.enabled) {
    std::cerr << "warning: passwords will cross the network in clear text (no [tls])\n";
  }
  if (rlimit rl{}; ::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    // `serve` raises the soft limit to the hard one: that is what must fit.
    const std::size_t fits = limits::sessions_for_fd_limit(rl.rlim_max);
    const std::size_t wanted = cfg.server.max_connections + cfg.lmtp.max_connections;
    if (fits < wanted) {
      std::cerr << "warning: the open-files hard limit (" << rl.rlim_max << ") allows " << fits
                << " sessions, fewer than max_connections + [lmtp] max_connections (" << wanted
                << ")\n";
    }
  }
  if (problems) return EX_CONFIG;
  std::cout << file << ": OK\n";
  return 0;
}

}  // namespace

void add_check(CLI::App& app, int& rc) {
  auto* cmd = app.add_subcommand("check", "Validate a configuration file and what it names");
  auto file = std::make_shared<std::string>();
  cmd->add_option("-c,--config", *file, "Configuration file (TOML)")->required();
  cmd->callback([file, &rc] { rc = run_check(*file); });
}

}  // namespace popbox::cli
