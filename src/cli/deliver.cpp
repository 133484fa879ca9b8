// popbox deliver: a local delivery agent for an MTA (Postfix mailbox_command,
// Exim pipe transport). Reads one message on stdin, stores it in the user's
// mailbox (the configured Store), and answers with a sysexits code the MTA understands.
#include <sysexits.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>
#include <optional>

#include "auth/authenticator.hpp"
#include "cli/verbs.hpp"
#include "config/config.hpp"
#include "core/privileges.hpp"
#include "lmtp/local_delivery.hpp"
#include "store/make_store.hpp"
#include "store/make_user_source.hpp"

namespace popbox::cli {
namespace {

struct DeliverOptions {
  std::string config, user, from;
};

int fail(int code, const std::string& why) {
  std::cerr << "popbox deliver: " << why << "\n";
  return code;
}

int run_deliver(const DeliverOptions& o) {
  config::Config cfg;
  try {
    cfg = config::load(o.config);
  } catch (const std::exception& e) {
    // A broken config is the operator's to fix; the MTA should retry later.
    return fail(EX_TEMPFAIL, e.what());
  }
  std::optional<core::RunAs> run_as;
  if (core::running_as_root()) {
    // Like Dovecot's deliver: mail is never written as root.
    if (cfg.server.user.empty()) return fail(EX_CONFIG, core::refuse_root_message());
    try {
      run_as = core::resolve_run_as(cfg.server.user, cfg.server.group);
    } catch (const std::exception& e) {
      return fail(EX_CONFIG, e.what());
    }
  }
  std::string sender = o.from;
  if (sender.empty()) {
    const char* env = std::getenv("SENDER");  // set by Postfix for mailbox_command
    sender = env ? env : "MAILER-DAEMON";
  }
  try {
    // The same users as `popbox serve` ([auth] source).
    auth::Authenticator users(store::make_user_source(cfg));
    users.load();
    // After loading the users. Keeps CAP_SETUID/CAP_SETGID when an entry
    // has its own uid/gid (its Maildir is written with them).
    if (run_as) {
      const bool keep_setid = store::users_have_other_owner(cfg, run_as->uid, run_as->gid);
      core::drop_privileges(*run_as, true, keep_setid);
    }
    auto store = store::make_store(cfg);
    lmtp::LocalDelivery delivery(cfg, users, *store);
    auto quota_code = [&] { return cfg.quota.temporary ? EX_TEMPFAIL : EX_NOPERM; };
    lmtp::Recipient rcpt;
    std::string detail;
    switch (delivery.resolve(o.user, 0, rcpt, detail)) {
      case lmtp::RcptStatus::ok:
        break;
      case lmtp::RcptStatus::no_such_user:
        return fail(EX_NOUSER, "unknown user " + o.user);
      case lmtp::RcptStatus::over_quota:
        return fail(quota_code(), o.user + ": quota exceeded");
      case lmtp::RcptStatus::temp_failure:
      case lmtp::RcptStatus::unsafe_mailbox:
        return fail(EX_TEMPFAIL, o.user + ": " + detail);
    }
    core::Spool message;
    char buf[64 * 1024];
    for (;;) {
      ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail(EX_TEMPFAIL, "cannot read the message from stdin");
      if (n == 0) break;
      if (auto ec = message.append(std::string_view(buf, static_cast<std::size_t>(n)))) {
        return fail(EX_TEMPFAIL, "cannot spool the message: " + ec.message());
      }
    }
    // The MTA pipes the Unix form; the store takes the wire form.
    auto result = delivery.deliver(std::span(&rcpt, 1), sender, message, lmtp::LineEnds::lf);
    detail = result.front().detail;
    switch (result.front().status) {
      case lmtp::RcptStatus::ok:
        return 0;
      case lmtp::RcptStatus::over_quota:
        return fail(quota_code(), o.user + ": quota exceeded");
      case lmtp::RcptStatus::no_such_user:
        return fail(EX_NOUSER, "unknown user " + o.user);
      case lmtp::RcptStatus::temp_failure:
      case lmtp::RcptStatus::unsafe_mailbox:
        break;
    }
    return fail(EX_TEMPFAIL, o.user + ": " + detail);
  } catch (const std::exception& e) {
    return fail(EX_TEMPFAIL, e.what());
  }
}

}  // namespace

void add_deliver(CLI::App& app, int& rc) {
  auto* cmd = app.add_subcommand("deliver", "Store one message from stdin in a user's Maildir");
  auto o = std::make_shared<DeliverOptions>();
  cmd->add_option("-c,--config", o->config, "Configuration file (TOML)")->required();
  cmd->add_option("-u,--user", o->user, "Recipient user (passwd-file name or address)")->required();
  cmd->add_option("-f,--from", o->from, "Envelope sender (default: $SENDER)");
  cmd->callback([o, &rc] { rc = run_deliver(*o); });
}

}  // namespace popbox::cli
