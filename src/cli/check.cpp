// popbox check: validates a configuration the way `serve` would use it,
// without binding ports, and prints every problem found.
#include <sys/resource.h>
#include <sysexits.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "auth/jwt.hpp"
#include "auth/passwd_file.hpp"
#include "cli/verbs.hpp"
#include "config/config.hpp"
#include "core/limits.hpp"
#include "net/tls_context.hpp"
#include "store/maildir_store.hpp"

namespace popbox::cli {
namespace {

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
    auto users = auth::PasswdFile::load(cfg.auth.passwd_file);
    for (const auto& w : users.warnings()) std::cerr << "warning: " << w << "\n";
    if (users.entries().empty()) {
      std::cerr << "warning: " << cfg.auth.passwd_file.string() << " has no users\n";
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
    store::MaildirStore store(cfg.mail.maildir, cfg.mail.uidl_format);
  } catch (const std::exception& e) {
    problem(std::string("[mail]: ") + e.what());
  }
  if (cfg.server.idle_timeout < limits::min_rfc_idle_timeout) {
    std::cerr << "warning: [server] idle_timeout is below the 10 minutes RFC 1939 requires\n";
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
