// popbox: one binary, one verb per job.
#include <sysexits.h>
#include <CLI/CLI.hpp>

#include <string>

#include "cli/verbs.hpp"
#include "core/version.hpp"

int main(int argc, char** argv) {
  CLI::App app{"popbox: a POP3 server on Maildir, and a POP3 client"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(popbox::version_line));
  int rc = 0;
  popbox::cli::add_serve(app, rc);
  popbox::cli::add_check(app, rc);
  popbox::cli::add_user(app, rc);
  popbox::cli::add_fetch(app, rc);
  popbox::cli::add_deliver(app, rc);
  popbox::cli::add_bench(app, rc);
  popbox::cli::add_uidl(app, rc);
  popbox::cli::add_who(app, rc);
  popbox::cli::add_kick(app, rc);
  popbox::cli::add_mailbox(app, rc);
  popbox::cli::add_expunge(app, rc);
  popbox::cli::add_reload(app, rc);
  popbox::cli::add_sandbox(app, rc);
  popbox::cli::add_db(app, rc);
  popbox::cli::add_migrate(app, rc);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : EX_USAGE;
  }
  return rc;
}
