// popbox expunge: removes mail older than an age (retention policies), per
// user or for every user, through the running server: it takes each
// maildrop lock like a POP3 session (a maildrop in use is skipped and
// reported, never waited for) and deletes as the mailbox owner.
#include <sysexits.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/admin_call.hpp"
#include "cli/verbs.hpp"
#include "core/limits.hpp"

namespace popbox::cli {

void add_expunge(CLI::App& app, int& rc) {
  auto* cmd = app.add_subcommand("expunge", "Delete messages older than an age");
  auto target = std::make_shared<AdminTarget>();
  auto user = std::make_shared<std::string>();
  auto all = std::make_shared<bool>(false);
  auto age = std::make_shared<std::string>();
  auto dry_run = std::make_shared<bool>(false);
  add_admin_options(*cmd, *target, false);
  auto* user_opt = cmd->add_option("--user", *user, "The user whose old mail goes");
  auto* all_opt = cmd->add_flag("--all", *all, "Every user of the passwd-file");
  user_opt->excludes(all_opt);
  all_opt->excludes(user_opt);
  cmd->add_option("--older-than", *age, "Age, e.g. 90d (units s, m, h, d, w)")->required();
  cmd->add_flag("--dry-run", *dry_run, "List what would go; delete nothing");
  cmd->callback([=, &rc] {
    admin::Request req;
    req.verb = admin::Verb::expunge;
    if (!*user_opt && !*all) {
      std::cerr << "popbox expunge: give --user USER or --all\n";
      rc = EX_USAGE;
      return;
    }
    req.user = *user;
    req.all = *all;
    req.dry_run = *dry_run;
    auto seconds = admin::parse_age(*age);
    if (!seconds) {
      std::cerr << "popbox expunge: --older-than wants a number and a unit (s, m, h, d, w), "
                   "e.g. 90d\n";
      rc = EX_USAGE;
      return;
    }
    req.older_than = *seconds;
    auto reply = admin_call("expunge", *target, req, limits::admin_expunge_wait, rc);
    if (!reply) return;
    bool skipped = false;
    for (const auto& u : (*reply)["users"]) {
      const std::string name = u["user"].get<std::string>();
      if (u.contains("skipped")) {
        skipped = true;
        std::cout << name << ": skipped (" << u["skipped"].get<std::string>() << ")";
        if (u["removed"].get<std::uint64_t>() == 0) {
          std::cout << "\n";
          continue;
        }
        std::cout << "; ";
      } else {
        std::cout << name << ": ";
      }
      std::cout << (*dry_run ? "would remove " : "removed ") << u["removed"].get<std::uint64_t>()
                << " messages, " << u["octets"].get<std::uint64_t>() << " octets\n";
      if (*dry_run) {
        for (const auto& m : u["messages"]) {
          std::cout << "  " << m["uidl"].get<std::string>() << " "
                    << m["octets"].get<std::uint64_t>() << " octets, delivered "
                    << format_time(m["delivered"].get<std::int64_t>()) << " UTC\n";
        }
        if (u["truncated"].get<bool>()) std::cout << "  ...\n";
      }
    }
    if (skipped) rc = EX_TEMPFAIL;
  });
}

}  // namespace popbox::cli
