// popbox serve: the POP3 server in the foreground, logging to stderr.
#include <sysexits.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <iostream>
#include <optional>

#include "cli/verbs.hpp"
#include "config/config.hpp"
#include "core/privileges.hpp"
#include "net/server.hpp"
#include "store/maildrop_lock.hpp"
#include "store/make_user_source.hpp"

namespace popbox::cli {

void add_serve(CLI::App& app, int& rc) {
  auto* cmd = app.add_subcommand("serve", "Run the POP3 server in the foreground");
  auto file = std::make_shared<std::string>();
  cmd->add_option("-c,--config", *file, "Configuration file (TOML)")->required();
  cmd->callback([file, &rc] {
    config::Config cfg;
    std::optional<core::RunAs> run_as;
    try {
      cfg = config::load(*file);
      if (core::running_as_root()) {
        if (cfg.server.user.empty()) {
          std::cerr << "popbox serve: " << core::refuse_root_message() << "\n";
          rc = EX_CONFIG;
          return;
        }
        run_as = core::resolve_run_as(cfg.server.user, cfg.server.group);
      }
    } catch (const std::exception& e) {
      std::cerr << "popbox: " << e.what() << "\n";
      rc = EX_CONFIG;
      return;
    }
    try {
      // Entries with their own uid/gid need CAP_SETUID/CAP_SETGID kept for
      // the per-thread fsuid switch; without them the drop keeps nothing.
      const bool keep_setid =
          run_as && store::users_have_other_owner(cfg, run_as->uid, run_as->gid);
      // The one maildrop lock file, opened (created) while still root and
      // given to the service user, so its CLI verbs can share it.
      store::configure_maildrop_locks(
          cfg.mail.lock_file,
          run_as ? std::optional<store::Owner>(store::Owner{run_as->uid, run_as->gid})
                 : std::nullopt);
      // Binds every listener and loads the users ([auth] source) and the
      // TLS key while still root; everything after runs as the configured user.
      net::Server server(std::move(cfg));
      // The admin socket: the service user's, group [admin] group.
      server.set_admin_owner(run_as ? run_as->uid : ::getuid(), run_as ? run_as->gid : ::getgid());
      if (run_as) {
        // The LMTP socket belongs to the service user (its group is the
        // MTA's way in), so it is not left root's after the drop.
        const std::string& unix_path = server.unix_socket_path();
        if (!unix_path.empty() && ::lchown(unix_path.c_str(), run_as->uid, run_as->gid) != 0) {
          throw std::runtime_error("cannot chown " + unix_path);
        }
        core::drop_privileges(*run_as, true, keep_setid);
      }
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
