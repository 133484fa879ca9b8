// popbox kick: ends a user's live POP3 sessions (or one session) without
// committing anything: only QUIT commits (RFC 1939), so messages marked
// with DELE stay and the maildrop lock is released.
#include <sysexits.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/admin_call.hpp"
#include "cli/verbs.hpp"
#include "core/limits.hpp"

namespace popbox::cli {

void add_kick(CLI::App& app, int& rc) {
  auto* cmd = app.add_subcommand("kick", "End live POP3 sessions (nothing is deleted)");
  auto target = std::make_shared<AdminTarget>();
  auto user = std::make_shared<std::string>();
  auto session = std::make_shared<std::uint64_t>(0);
  add_admin_options(*cmd, *target);
  auto* user_opt = cmd->add_option("USER", *user, "End every session of this user");
  auto* session_opt = cmd->add_option("--session", *session, "End the session with this id")
                          ->check(CLI::PositiveNumber);
  user_opt->excludes(session_opt);
  session_opt->excludes(user_opt);
  cmd->callback([target, user, session, user_opt, session_opt, &rc] {
    admin::Request req;
    req.verb = admin::Verb::kick;
    if (*session_opt) {
      req.session = *session;
    } else if (*user_opt) {
      req.user = *user;
    } else {
      std::cerr << "popbox kick: give USER or --session ID\n";
      rc = EX_USAGE;
      return;
    }
    auto reply = admin_call("kick", *target, req, limits::admin_client_wait, rc);
    if (!reply) return;
    const auto n = (*reply)["kicked"].get<std::uint64_t>();
    if (n == 0) {
      std::cerr << "popbox kick: no session matched\n";
      rc = 1;
      return;
    }
    std::cout << "kicked " << n << " session" << (n == 1 ? "" : "s") << "\n";
  });
}

}  // namespace popbox::cli
