// popbox fetch login: sign an OAuth account in once (browser with PKCE and
// a loopback redirect, or the device flow) and store its tokens.
#include <sysexits.h>
#include <CLI/CLI.hpp>

#include <ctime>
#include <filesystem>
#include <iostream>
#include <thread>

#include "cli/fetch_verbs.hpp"
#include "client/error.hpp"
#include "client/fetch_config.hpp"
#include "client/oauth_flow.hpp"

namespace popbox::cli {
namespace {

struct LoginArgs {
  std::string config;
  std::string account;
  bool device = false;
  bool browser = false;
};

int run_login(const LoginArgs& args) {
  const char* who = "popbox fetch login";
  if (args.config.empty()) {
    std::cerr << who << ": --config FILE is required\n";
    return EX_USAGE;
  }
  client::FetchConfig cfg;
  const client::AccountConfig* a = nullptr;
  if (int rc = load_account(args.config, args.account, cfg, a, who)) return rc;
  if (!a->oauth) {
    std::cerr << who << ": account \"" << a->name
              << "\" has no 'oauth' key (docs/fetch.md, \"OAuth2 sign-in\")\n";
    return EX_CONFIG;
  }
  std::error_code ec;
  std::filesystem::create_directories(a->state_dir, ec);
  if (ec) {
    std::cerr << who << ": cannot create state_dir " << a->state_dir << ": " << ec.message()
              << "\n";
    return EX_CANTCREAT;
  }
  client::oauth::LoginIo io;
  io.out = &std::cout;
  io.sleep = [](std::int64_t s) { std::this_thread::sleep_for(std::chrono::seconds(s)); };
  io.now = [] { return static_cast<std::int64_t>(std::time(nullptr)); };
  io.open_browser = !args.browser;
  if (args.browser && a->oauth->authorize_url.empty()) {
    std::cerr << who << ": account \"" << a->name
              << "\" has no oauth_authorize_url: --browser needs one (use --device)\n";
    return EX_CONFIG;
  }
  // The device flow on request, or when no browser can be opened and the
  // provider has one (RFC 8252 needs a browser on this machine); --browser
  // prints the URL and waits for the redirect (an `ssh -L` away).
  bool device =
      args.device || a->oauth->authorize_url.empty() ||
      (!args.browser && !client::oauth::can_open_browser() && !a->oauth->device_url.empty());
  client::Failure f =
      device ? client::oauth::login_device(*a, io) : client::oauth::login_browser(*a, io);
  if (f) {
    std::cerr << who << ": " << f.message << "\n";
    return client::exit_code(f.code);
  }
  return EX_OK;
}

}  // namespace

void add_fetch_login(CLI::App& fetch, int& rc) {
  auto* cmd = fetch.add_subcommand(
      "login", "Sign an OAuth2 account in once and store its tokens (docs/fetch.md)");
  auto args = std::make_shared<LoginArgs>();
  cmd->add_option("-c,--config", args->config, "Fetch configuration file (TOML)");
  cmd->add_option("-a,--account", args->account, "The account to sign in")->required();
  auto* device =
      cmd->add_flag("--device", args->device,
                    "Use the device flow: print a URL and a code to enter on any device");
  cmd->add_flag("--browser", args->browser,
                "Print the sign-in URL and wait for the browser's redirect to the loopback "
                "port, without opening a browser (over SSH: forward the port with ssh -L)")
      ->excludes(device);
  cmd->callback([&fetch, args, &rc] {
    if (args->config.empty()) args->config = fetch.get_option("--config")->as<std::string>();
    rc = run_login(*args);
  });
}

}  // namespace popbox::cli
