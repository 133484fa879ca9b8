// popbox who: the live POP3 sessions of the running server, as a table or
// JSON, read over the admin socket.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/admin_call.hpp"
#include "cli/verbs.hpp"
#include "core/limits.hpp"

namespace popbox::cli {

void add_who(CLI::App& app, int& rc) {
  auto* cmd = app.add_subcommand("who", "List the live POP3 sessions of the running server");
  auto target = std::make_shared<AdminTarget>();
  auto json_out = std::make_shared<bool>(false);
  add_admin_options(*cmd, *target);
  cmd->add_flag("--json", *json_out, "Print the sessions as JSON");
  cmd->callback([target, json_out, &rc] {
    admin::Request req;
    req.verb = admin::Verb::who;
    auto reply = admin_call("who", *target, req, limits::admin_client_wait, rc);
    if (!reply) return;
    const auto& sessions = (*reply)["sessions"];
    if (*json_out) {
      std::cout << sessions.dump(2) << "\n";
      return;
    }
    std::cout << fmt::format("{:<8} {:<20} {:<22} {:<8} {:<13} {:<19} {}\n", "ID", "USER", "PEER",
                             "TLS", "STATE", "SINCE (UTC)", "BYTES IN/OUT");
    for (const auto& s : sessions) {
      const std::string user = s["user"].get<std::string>();
      const std::string tls = s["tls"].get<std::string>();
      std::cout << fmt::format(
          "{:<8} {:<20} {:<22} {:<8} {:<13} {:<19} {}/{}\n", s["id"].get<std::uint64_t>(),
          user.empty() ? "-" : user, s["peer"].get<std::string>(), tls.empty() ? "-" : tls,
          s["state"].get<std::string>(), format_time(s["since"].get<std::int64_t>()),
          s["bytes_in"].get<std::uint64_t>(), s["bytes_out"].get<std::uint64_t>());
    }
  });
}

}  // namespace popbox::cli
