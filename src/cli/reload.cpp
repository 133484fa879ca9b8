// popbox reload: what SIGHUP does (users, OAuth keys, TLS certificate),
// with each result printed.
#include <sysexits.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/admin_call.hpp"
#include "cli/verbs.hpp"
#include "core/limits.hpp"

namespace popbox::cli {

void add_reload(CLI::App& app, int& rc) {
  auto* cmd = app.add_subcommand("reload", "Reload users and certificates (like SIGHUP)");
  auto target = std::make_shared<AdminTarget>();
  add_admin_options(*cmd, *target);
  cmd->callback([target, &rc] {
    admin::Request req;
    req.verb = admin::Verb::reload;
    auto reply = admin_call("reload", *target, req, limits::admin_client_wait, rc);
    if (!reply) return;
    for (const auto& i : (*reply)["reloaded"]) {
      std::cout << i["what"].get<std::string>() << ": "
                << (i["ok"].get<bool>() ? std::string("ok")
                                        : "failed (" + i["error"].get<std::string>() +
                                              "); the previous one stays in use")
                << "\n";
    }
    if (!(*reply)["all_ok"].get<bool>()) rc = EX_SOFTWARE;
  });
}

}  // namespace popbox::cli
