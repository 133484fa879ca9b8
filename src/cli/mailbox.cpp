// popbox mailbox stat USER: what a POP3 STAT would show for the user now
// (messages, octets), the oldest message, the state of popbox-snapshot and
// whether a session holds the maildrop. Asks the running server, which
// looks with its privilege model and writes nothing.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/admin_call.hpp"
#include "cli/verbs.hpp"
#include "core/limits.hpp"

namespace popbox::cli {

void add_mailbox(CLI::App& app, int& rc) {
  auto* cmd = app.add_subcommand("mailbox", "Look at a user's maildrop");
  cmd->require_subcommand(1);
  auto* stat = cmd->add_subcommand("stat", "Messages, octets, oldest, index state, lock");
  auto target = std::make_shared<AdminTarget>();
  auto user = std::make_shared<std::string>();
  auto json_out = std::make_shared<bool>(false);
  add_admin_options(*stat, *target);
  stat->add_option("USER", *user, "The user (passwd-file name)")->required();
  stat->add_flag("--json", *json_out, "Print the result as JSON");
  stat->callback([target, user, json_out, &rc] {
    admin::Request req;
    req.verb = admin::Verb::mailbox_stat;
    req.user = *user;
    auto reply = admin_call("mailbox stat", *target, req, limits::admin_client_wait, rc);
    if (!reply) return;
    auto j = *reply;
    j.erase("ok");
    if (*json_out) {
      std::cout << j.dump(2) << "\n";
      return;
    }
    auto number = [](const nlohmann::json& v) {
      return v.is_null() ? std::string("unknown") : std::to_string(v.get<std::uint64_t>());
    };
    std::cout << "user:     " << j["user"].get<std::string>() << "\n"
              << "messages: " << number(j["messages"]) << "\n"
              << "octets:   " << number(j["octets"]) << "\n"
              << "oldest:   "
              << (j["oldest"].is_null() ? std::string("-")
                                        : format_time(j["oldest"].get<std::int64_t>()) + " UTC")
              << "\n"
              << "index:    " << j["index"].get<std::string>() << "\n"
              << "locked:   " << (j["locked"].get<bool>() ? "yes (a session holds it)" : "no")
              << "\n";
    if (j["from_snapshot"].get<bool>()) {
      std::cout << "(numbers from the snapshot of the session holding it)\n";
    }
  });
}

}  // namespace popbox::cli
