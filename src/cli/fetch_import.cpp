// `popbox fetch import`: take over the UIDL list of fetchmail, getmail or
// mpop, so the first `popbox fetch` downloads nothing the old tool fetched.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sysexits.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/fetch_verbs.hpp"
#include "client/fetch_config.hpp"
#include "client/import_uidls.hpp"
#include "client/state_db.hpp"
#include "store/unique_fd.hpp"

namespace popbox::cli {
namespace {

struct ImportArgs {
  std::string config;
  std::string account;
  std::vector<std::string> from;  // FORMAT FILE
};

int fail(const std::string& account, const std::string& message, int code) {
  std::cerr << "popbox fetch import: " << (account.empty() ? "" : account + ": ") << message
            << "\n";
  return code;
}

int run_import(const ImportArgs& args) {
  if (args.config.empty() || args.account.empty() || args.from.size() != 2) {
    return fail("", "usage: --config FILE --account NAME --from fetchmail|getmail|mpop FILE",
                EX_USAGE);
  }
  auto format = client::parse_import_format(args.from[0]);
  if (!format) {
    return fail("", fmt::format("unknown format \"{}\" (fetchmail, getmail or mpop)", args.from[0]),
                EX_USAGE);
  }
  std::int64_t now = 0;
  if (!fetch_clock(now)) return fail("", "POPBOX_FETCH_NOW must be unix seconds", EX_USAGE);
  const client::AccountConfig* a = nullptr;
  client::FetchConfig cfg;
  if (int rc = load_account(args.config, args.account, cfg, a, "popbox fetch import")) return rc;

  std::ifstream in(args.from[1], std::ios::binary);
  std::stringstream text;
  if (!in || !(text << in.rdbuf())) {
    return fail(a->name, fmt::format("cannot read {}: {}", args.from[1], std::strerror(errno)),
                EX_NOINPUT);
  }
  client::ImportedUidls found = client::parse_imported_uidls(*format, text.str(), a->host, a->user);
  if (*format == client::ImportFormat::getmail) {
    std::string base = std::filesystem::path(args.from[1]).filename().string();
    if (client::getmail_name_mismatch(base, a->host, a->user)) {
      found.other_accounts += found.uidls.size();
      found.uidls.clear();
      std::cerr << fmt::format(
          "popbox fetch import: {}: {} is getmail's file for another server "
          "or user (expected oldmail-{}-PORT-{}); nothing imported\n",
          a->name, base, a->host, a->user);
    }
  }

  std::error_code ec;
  std::filesystem::create_directories(a->state_dir, ec);
  if (ec) {
    return fail(a->name, fmt::format("cannot create state_dir {}: {}", a->state_dir, ec.message()),
                EX_CANTCREAT);
  }
  // The same lock as a fetch run: never change the state under one.
  std::string lock_path = a->state_dir + "/" + a->name + ".lock";
  store::detail::UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock) {
    return fail(a->name, fmt::format("cannot open {}: {}", lock_path, std::strerror(errno)),
                EX_CANTCREAT);
  }
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    return fail(a->name,
                fmt::format("another popbox fetch is working on this account (lock {})", lock_path),
                EX_TEMPFAIL);
  }
  std::string error;
  auto db = client::StateDb::open(a->state_dir + "/" + a->name + ".sqlite", error);
  if (!db) return fail(a->name, "state database " + error, EX_CANTCREAT);
  client::StateMap state;
  if (db->load(state)) return fail(a->name, "state database: " + db->last_error(), EX_CANTCREAT);
  std::vector<std::pair<std::string, client::StateRow>> rows;
  std::size_t known = 0;
  for (const auto& u : found.uidls) {
    if (state.count(u)) {
      ++known;  // already in the state: its date and pending flag stay
      continue;
    }
    rows.emplace_back(u, client::StateRow{now, false});
  }
  if (!rows.empty() && db->record_batch(rows)) {
    return fail(a->name, "state database: " + db->last_error(), EX_CANTCREAT);
  }
  std::cout << fmt::format(
      "{}: imported {} UIDL{} from {} ({}); skipped {} already known, {} of other accounts, {} "
      "malformed\n",
      a->name, rows.size(), rows.size() == 1 ? "" : "s", args.from[1], args.from[0], known,
      found.other_accounts, found.malformed);
  return 0;
}

}  // namespace

void add_fetch_import(CLI::App& fetch, int& rc) {
  auto* cmd = fetch.add_subcommand(
      "import", "Record another client's downloaded UIDLs (fetchmail, getmail, mpop) as fetched");
  auto args = std::make_shared<ImportArgs>();
  cmd->add_option("-c,--config", args->config, "Fetch configuration file (TOML)");
  cmd->add_option("-a,--account", args->account, "The account to import into");
  cmd->add_option("--from", args->from, "FORMAT FILE: fetchmail|getmail|mpop and its UIDL file")
      ->expected(2);
  cmd->callback([args, &rc] { rc = run_import(*args); });
}

}  // namespace popbox::cli
