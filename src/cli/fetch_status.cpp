// popbox fetch status: what the last runs of each account did and when the
// daemon runs it next, from the state databases (nothing is contacted).
#include <fmt/format.h>
#include <sysexits.h>
#include <CLI/CLI.hpp>

#include <ctime>
#include <iostream>

#include "cli/fetch_verbs.hpp"
#include "client/auth.hpp"
#include "client/console.hpp"
#include "client/daemon.hpp"
#include "client/fetch_config.hpp"
#include "client/oauth_store.hpp"
#include "client/state_db.hpp"

namespace popbox::cli {
namespace {

struct StatusArgs {
  std::string config;
  std::vector<std::string> accounts;
};

// One line: "work: last success T (3 messages, 1.2 KB); next run T; last error T (...): text".
std::string status_of(const client::AccountConfig& a, const client::RunStatus& s) {
  std::string line = a.name + ": last success ";
  if (s.last_success) {
    line +=
        fmt::format("{} ({} message{}, {})", client::iso_time(s.last_success), s.messages,
                    s.messages == 1 ? "" : "s", client::human_bytes(static_cast<double>(s.bytes)));
  } else {
    line += "never";
  }
  line += "; next run ";
  line += s.next_run ? client::iso_time(s.next_run) : std::string("not scheduled");
  line += "; last error ";
  if (s.last_error.empty()) {
    line += s.last_error_at ? "none since the last success" : "never";
  } else {
    line += fmt::format("{} ({} in a row): {}", client::iso_time(s.last_error_at), s.failures,
                        s.last_error);
  }
  return client::terminal_safe(line);
}

int run_status(const StatusArgs& args) {
  if (args.config.empty()) {
    std::cerr << "popbox fetch status: --config FILE is required\n";
    return EX_USAGE;
  }
  client::FetchConfig cfg;
  try {
    cfg = client::load_fetch_config(args.config, client::home_dir());
  } catch (const std::exception& e) {
    std::cerr << "popbox fetch status: " << e.what() << "\n";
    return EX_CONFIG;
  }
  for (const auto& name : args.accounts) {
    if (std::none_of(cfg.accounts.begin(), cfg.accounts.end(),
                     [&](const client::AccountConfig& a) { return a.name == name; })) {
      std::cerr << "popbox fetch status: no account named \"" << name << "\" in " << args.config
                << "\n";
      return EX_CONFIG;
    }
  }
  int rc = EX_OK;
  for (const auto& a : cfg.accounts) {
    if (!args.accounts.empty() &&
        std::find(args.accounts.begin(), args.accounts.end(), a.name) == args.accounts.end()) {
      continue;
    }
    client::RunStatus s;
    std::string error;
    if (!client::StateDb::read_status(a.state_dir + "/" + a.name + ".sqlite", s, error)) {
      std::cerr << "popbox fetch status: " << a.name << ": state database " << error << "\n";
      rc = EX_CANTCREAT;
      continue;
    }
    std::string line = status_of(a, s);
    if (a.oauth) {
      std::optional<client::oauth::StoredTokens> tokens;
      client::Failure f = client::oauth::load_tokens(client::oauth_token_path(a), tokens);
      if (f) {
        line += "; token store unusable: " + client::terminal_safe(f.message);
      } else if (!tokens || (tokens->refresh_token.empty() &&
                             client::oauth::needs_refresh(*tokens, std::time(nullptr)))) {
        // A valid access token without a refresh token still logs in.
        line += "; needs login: run `popbox fetch login --account " + a.name + "`";
      }
      if (tokens) {  // only the expiry was needed
        client::wipe(tokens->access_token);
        client::wipe(tokens->refresh_token);
      }
    }
    std::cout << line << "\n";
  }
  return rc;
}

}  // namespace

void add_fetch_status(CLI::App& fetch, int& rc) {
  auto* cmd = fetch.add_subcommand(
      "status", "Print each account's last success, last error and next run (from the state)");
  auto args = std::make_shared<StatusArgs>();
  cmd->add_option("-c,--config", args->config, "Fetch configuration file (TOML)");
  cmd->add_option("-a,--account", args->accounts, "Only this account (repeatable)")
      ->allow_extra_args(false);
  cmd->callback([&fetch, args, &rc] {
    // `popbox fetch -c FILE status` works too.
    if (args->config.empty()) args->config = fetch.get_option("--config")->as<std::string>();
    rc = run_status(*args);
  });
}

}  // namespace popbox::cli
