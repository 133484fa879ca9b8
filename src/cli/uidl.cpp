// popbox uidl import: before switching from Dovecot or Courier, shows per
// user how many UIDLs a client would see change, and (without --dry-run)
// records the adopted UIDLs in each Maildir's popbox-uidls. It opens each
// Maildir the way a POP3 login does, so it holds the maildrop lock only for
// that user's open; a Maildir in use is reported and skipped.
#include <fcntl.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/passwd_file.hpp"
#include "cli/verbs.hpp"
#include "config/config.hpp"
#include "core/privileges.hpp"
#include "store/maildir_mailbox.hpp"
#include "store/maildir_name.hpp"
#include "store/maildir_store.hpp"
#include "store/maildrop_lock.hpp"

namespace popbox::cli {
namespace {

struct ImportOptions {
  std::string config, user;
  bool all = false;
  bool dry_run = false;
  bool verbose = false;
};

constexpr std::size_t changes_listed = 20;  // per user, unless --verbose

struct Totals {
  std::size_t users = 0, messages = 0, changed = 0, skipped = 0, errors = 0;
  bool in_use = false;
};

// A value safe to print after "key=": quoted when it has spaces or quotes.
std::string field(const std::string& v) {
  if (!v.empty() && v.find_first_of(" \t\"\\=") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
  }
  return out + "\"";
}

const char* reason(const store::UidlReportEntry& e, bool adoption_open) {
  if (e.rejected) return "not-a-valid-uidl";
  if (e.renamed) return "duplicate-renamed";
  if (e.source == store::UidlSource::recorded) return "recorded-earlier";
  if (!adoption_open) return "popbox-already-served";
  return "differs";
}

// Files popbox made in the Maildir belong to the Maildir's owner, so a
// server running as that user can use them after a root run of this verb.
void give_to_maildir_owner(const std::string& path) {
  if (::geteuid() != 0) return;
  store::detail::UniqueFd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  struct stat dst {};
  if (!dir || ::fstat(dir.get(), &dst) != 0) return;
  for (const char* name : {store::detail::lock_file_name, "popbox-index", "popbox-uidls"}) {
    struct stat st {};
    if (::fstatat(dir.get(), name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
      continue;
    }
    if (st.st_uid != dst.st_uid || st.st_gid != dst.st_gid) {
      ::fchownat(dir.get(), name, dst.st_uid, dst.st_gid, AT_SYMLINK_NOFOLLOW);
    }
  }
}

void import_user(const std::string& user, const store::MaildirStore& store, const ImportOptions& o,
                 Totals& totals) {
  ++totals.users;
  std::error_code ec;
  std::string path = store.maildir_path(user, ec);
  if (ec) {
    std::cout << "user=" << field(user) << " skipped=unusable-path\n";
    ++totals.skipped;
    return;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    // Nothing to migrate, and a report must not create Maildirs.
    std::cout << "user=" << field(user) << " skipped=no-maildir maildir=" << field(path) << "\n";
    ++totals.skipped;
    return;
  }
  store::MaildirOptions options;
  options.mode =
      o.dry_run ? store::MaildirOptions::Mode::dry_run : store::MaildirOptions::Mode::import;
  options.uidl_format = store.uidl_format();
  options.adopt_x_uidl = store.adopt_x_uidl();
  auto box = store::MaildirMailbox::load(path, ec, options);
  if (!box) {
    if (ec == store::store_errc::in_use) {
      std::cout << "user=" << field(user) << " skipped=in-use (a POP3 session holds it)\n";
      ++totals.skipped;
      totals.in_use = true;
    } else {
      std::cout << "user=" << field(user) << " error=" << field(ec.message())
                << " maildir=" << field(path) << "\n";
      ++totals.errors;
    }
    give_to_maildir_owner(path);
    return;
  }
  const auto& report = box->uidl_report();
  const auto& msgs = box->messages();
  const auto& stats = box->stats();
  std::size_t known[5] = {}, changed = 0, to_record = 0, shadowed = 0;
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < report.size(); ++i) {
    const auto& e = report[i];
    ++known[static_cast<int>(e.previous_source)];
    if (!e.x_uidl.empty() && e.previous_source != store::UidlSource::x_uidl &&
        e.x_uidl != msgs[i].uidl) {
      ++shadowed;
    }
    if (e.source != store::UidlSource::recorded &&
        msgs[i].uidl != store::detail::uidl_of_base(e.base)) {
      ++to_record;
    }
    if (e.previous.empty() || e.previous == msgs[i].uidl) continue;
    ++changed;
    if (o.verbose || lines.size() < changes_listed) {
      lines.push_back("user=" + field(user) + " change msg=" + std::to_string(i + 1) +
                      " base=" + field(e.base) + " old=" + field(e.previous) +
                      " new=" + msgs[i].uidl + " from=" + store::to_string(e.previous_source) +
                      " reason=" + reason(e, stats.adoption_open));
    }
  }
  std::cout << "user=" << field(user) << " messages=" << msgs.size()
            << " dovecot=" << known[static_cast<int>(store::UidlSource::dovecot)]
            << " courier=" << known[static_cast<int>(store::UidlSource::courier)]
            << " x_uidl=" << known[static_cast<int>(store::UidlSource::x_uidl)]
            << " changed=" << changed;
  if (o.dry_run) {
    std::cout << " would_record=" << to_record;
  } else {
    std::cout << " recorded=" << stats.uidls_written;
  }
  std::cout << " adoption=" << (stats.adoption_open ? "open" : "closed");
  if (stats.source_bad_lines) std::cout << " bad_lines=" << stats.source_bad_lines;
  if (shadowed) std::cout << " x_uidl_ignored=" << shadowed;
  std::cout << " x_uidl_adopt=" << (store.adopt_x_uidl() ? "on" : "off");
  std::cout << " maildir=" << field(path) << "\n";
  for (const auto& l : lines) std::cout << l << "\n";
  if (shadowed && !store.adopt_x_uidl()) {
    std::cout << "user=" << field(user) << " note="
              << field(std::to_string(shadowed) +
                       " messages have an X-UIDL header, not adopted: any sender can write one, "
                       "so popbox adopts X-UIDL only with [mail] uidl_adopt_x_uidl = true; set it "
                       "if the old server showed them (Dovecot's pop3_reuse_xuidl = yes, qpopper)")
              << "\n";
  } else if (shadowed) {
    std::cout << "user=" << field(user) << " note="
              << field(std::to_string(shadowed) +
                       " messages have an X-UIDL header popbox does not use; if Dovecot ran with "
                       "pop3_reuse_xuidl = yes, its clients saw those instead")
              << "\n";
  }
  if (changed > lines.size()) {
    std::cout << "user=" << field(user) << " more_changes=" << changed - lines.size()
              << " (use --verbose to list all)\n";
  }
  if (stats.uidls_write_error) {
    std::cout << "user=" << field(user)
              << " error=" << field("recording failed: " + stats.uidls_write_error.message())
              << "\n";
    ++totals.errors;
  }
  totals.messages += msgs.size();
  totals.changed += changed;
  box.reset();  // unlocks
  give_to_maildir_owner(path);
}

int run_import(const ImportOptions& o) {
  if (o.user.empty() == !o.all) {
    std::cerr << "popbox uidl import: give --user USER or --all\n";
    return EX_USAGE;
  }
  config::Config cfg;
  std::unique_ptr<store::MaildirStore> store;
  auth::PasswdFile users;
  try {
    cfg = config::load(o.config);
    store = std::make_unique<store::MaildirStore>(cfg.mail.maildir, cfg.mail.uidl_format,
                                                  cfg.mail.uidl_adopt_x_uidl);
    users = auth::PasswdFile::load(cfg.auth.passwd_file);
    // The server's lock scheme, so a running server and this exclude each other.
    std::optional<store::Owner> owner;
    if (core::running_as_root() && !cfg.server.user.empty()) {
      auto who = core::resolve_run_as(cfg.server.user, cfg.server.group);
      owner = store::Owner{who.uid, who.gid};
    }
    store::configure_maildrop_locks(cfg.mail.lock_file, owner);
  } catch (const std::exception& e) {
    std::cerr << "popbox uidl import: " << e.what() << "\n";
    return EX_CONFIG;
  }
  std::vector<std::string> names;
  if (o.all) {
    for (const auto& e : users.entries()) names.push_back(e.user);
  } else if (users.find(o.user) == nullptr) {
    std::cerr << "popbox uidl import: no user " << o.user << " in " << cfg.auth.passwd_file.string()
              << "\n";
    return EX_NOUSER;
  } else {
    names.push_back(o.user);
  }
  Totals totals;
  for (const auto& name : names) import_user(name, *store, o, totals);
  std::cout << "total users=" << totals.users << " messages=" << totals.messages
            << " changed=" << totals.changed << " skipped=" << totals.skipped
            << " errors=" << totals.errors << (o.dry_run ? " dry_run=yes" : "") << "\n";
  if (totals.errors) return EX_IOERR;
  if (totals.in_use) return EX_TEMPFAIL;
  return 0;
}

}  // namespace

void add_uidl(CLI::App& app, int& rc) {
  auto* uidl = app.add_subcommand("uidl", "UIDLs of earlier POP3 servers (Dovecot, Courier)");
  uidl->require_subcommand(1);
  auto* cmd = uidl->add_subcommand(
      "import", "Report per user which UIDLs would change; without --dry-run, record them");
  auto o = std::make_shared<ImportOptions>();
  cmd->add_option("-c,--config", o->config, "Configuration file (TOML)")->required();
  auto* user = cmd->add_option("--user", o->user, "Only this user of the passwd-file");
  cmd->add_flag("--all", o->all, "Every user of the passwd-file")->excludes(user);
  cmd->add_flag("--dry-run", o->dry_run, "Report only; write nothing");
  cmd->add_flag("-v,--verbose", o->verbose, "List every changed UIDL");
  cmd->callback([o, &rc] { rc = run_import(*o); });
}

}  // namespace popbox::cli
