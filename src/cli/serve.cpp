// popbox serve: the POP3 server in the foreground, logging to stderr.
#include <sysexits.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/verbs.hpp"
#include "config/config.hpp"
#include "net/server.hpp"

namespace popbox::cli {

void add_serve(CLI::App& app, int& rc) {
  auto* cmd = app.add_subcommand("serve", "Run the POP3 server in the foreground");
  auto file = std::make_shared<std::string>();
  cmd->add_option("-c,--config", *file, "Configuration file (TOML)")->required();
  cmd->callback([file, &rc] {
    config::Config cfg;
    try {
      cfg = config::load(*file);
    } catch (const std::exception& e) {
      std::cerr << "popbox: " << e.what() << "\n";
      rc = EX_CONFIG;
      return;
    }
    try {
      net::Server server(std::move(cfg));
      rc = server.run();
    } catch (const config::ConfigError& e) {  // found while loading what the config names
      std::cerr << "popbox: " << e.what() << "\n";
      rc = EX_CONFIG;
    } catch (const std::exception& e) {
      std::cerr << "popbox: " << e.what() << "\n";
      rc = EX_UNAVAILABLE;
    }
  });
}

}  // namespace popbox::cli
