// popbox fetch: download mail from POP3 accounts into local targets.
// Sub-verbs (`popbox fetch import`, `check`, `status`, `login`) attach to the
// "fetch" subcommand; plain `popbox fetch` runs when none is given.
#include <signal.h>
#include <sysexits.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <charconv>
#include <cstdlib>
#include <ctime>
#include <iostream>

#include "cli/fetch_verbs.hpp"
#include "cli/verbs.hpp"
#include "client/console.hpp"
#include "client/daemon.hpp"
#include "client/fetch_config.hpp"
#include "client/fetch_run.hpp"
#include "net/systemd.hpp"

namespace popbox::cli {
namespace {

struct FetchArgs {
  std::string config;
  std::vector<std::string> accounts;
  bool dry_run = false;
  bool accept_new_uidls = false;
  unsigned jobs = 4;
  bool progress = false;
  bool quiet = false;
  bool daemon = false;
  bool once = false;
};

// "Now" for keep_days: POPBOX_FETCH_NOW (unix seconds) lets tests move the clock.
bool fetch_now(std::int64_t& now) {
  const char* env = std::getenv("POPBOX_FETCH_NOW");
  if (!env || !*env) {
    now = static_cast<std::int64_t>(std::time(nullptr));
    return true;
  }
  std::string_view s(env);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), now);
  return ec == std::errc() && p == s.data() + s.size() && now >= 0;
}

int run(const FetchArgs& args) {
  if (args.config.empty()) {
    std::cerr << "popbox fetch: --config FILE is required\n";
    return EX_USAGE;
  }
  client::FetchOptions o;
  if (!fetch_now(o.now)) {
    std::cerr << "popbox fetch: POPBOX_FETCH_NOW must be unix seconds\n";
    return EX_USAGE;
  }
  o.home = client::home_dir();
  client::FetchConfig cfg;
  try {
    cfg = client::load_fetch_config(args.config, o.home);
  } catch (const std::exception& e) {
    std::cerr << "popbox fetch: " << e.what() << "\n";
    return EX_CONFIG;
  }
  o.accounts = args.accounts;
  o.dry_run = args.dry_run;
  o.accept_new_uidls = args.accept_new_uidls;
  o.jobs = args.jobs;
  // A dead MDA must show up as a write error, not kill popbox.
  ::signal(SIGPIPE, SIG_IGN);
  bool daemon = args.daemon || (cfg.daemon && !args.once);
  if (daemon) {
    if (args.dry_run) {
      std::cerr << "popbox fetch: --dry-run runs once; it excludes --daemon and daemon = true\n";
      return EX_USAGE;
    }
    client::DaemonOptions d;
    d.fetch = o;
    d.config_file = args.config;
    d.fixed_now = std::getenv("POPBOX_FETCH_NOW") != nullptr;
    d.ready = [](std::string_view status) { net::sd::notify_ready(status); };
    d.reloading = [] { net::sd::notify_reloading(); };
    d.stopping = [](std::string_view status) { net::sd::notify_stopping(status); };
    client::Console console(false, args.quiet);  // a log, never a bar
    return client::run_daemon(std::move(cfg), d, console);
  }
  bool progress = !args.quiet && (args.progress || ::isatty(STDERR_FILENO));
  client::Console console(progress, args.quiet);
  return client::run_fetch(cfg, o, console);
}

}  // namespace

bool fetch_clock(std::int64_t& now) {
  return fetch_now(now);
}

int load_account(const std::string& config_file, const std::string& name,
                 client::FetchConfig& config, const client::AccountConfig*& account,
                 const char* who) {
  try {
    config = client::load_fetch_config(config_file, client::home_dir());
  } catch (const std::exception& e) {
    std::cerr << who << ": " << e.what() << "\n";
    return EX_CONFIG;
  }
  for (const auto& a : config.accounts) {
    if (a.name == name) {
      account = &a;
      return 0;
    }
  }
  std::cerr << who << ": no account named \"" << name << "\" in " << config_file << "\n";
  return EX_CONFIG;
}

void add_fetch(CLI::App& app, int& rc) {
  auto* cmd = app.add_subcommand("fetch", "Download mail from POP3 accounts (docs/fetch.md)");
  auto args = std::make_shared<FetchArgs>();
  cmd->add_option("-c,--config", args->config, "Fetch configuration file (TOML)");
  cmd->add_option("-a,--account", args->accounts, "Only this account (repeatable)")
      ->allow_extra_args(false);
  cmd->add_flag("-n,--dry-run", args->dry_run, "Show what would be downloaded and deleted");
  cmd->add_option("-j,--jobs", args->jobs, "Accounts fetched in parallel")
      ->check(CLI::Range(1u, 256u))
      ->capture_default_str();
  auto* progress = cmd->add_flag("--progress", args->progress,
                                 "Show the progress bar even when stderr is not a terminal");
  auto* quiet = cmd->add_flag("-q,--quiet", args->quiet, "Errors only (for cron)");
  progress->excludes(quiet);
  cmd->add_flag("--accept-new-uidls", args->accept_new_uidls,
                "Download even when every UIDL on the server is new but the state knows many");
  auto* daemon = cmd->add_flag("--daemon", args->daemon,
                               "Keep running: poll every account on its schedule (docs/fetch.md)");
  auto* once = cmd->add_flag("--once", args->once,
                             "Run every account once and exit (the default; overrides daemon = "
                             "true in the config)");
  daemon->excludes(once);
  daemon->excludes(progress);
  add_fetch_import(*cmd, rc);
  add_fetch_check(*cmd, rc);
  add_fetch_status(*cmd, rc);
  add_fetch_login(*cmd, rc);
  cmd->require_subcommand(0, 1);
  cmd->callback([cmd, args, &rc] {
    if (!cmd->get_subcommands().empty()) return;  // a sub-verb ran
    rc = run(*args);
  });
}

}  // namespace popbox::cli
