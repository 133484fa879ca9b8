// Running the accounts of a fetch.
#include "client/fetch_run.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sysexits.h>

#include <asio.hpp>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <thread>

#include "client/auth.hpp"
#include "client/connection.hpp"
#include "client/credentials.hpp"
#include "client/delivery.hpp"
#include "client/engine.hpp"
#include "client/error.hpp"
#include "client/oauth_flow.hpp"
#include "client/state_db.hpp"
#include "store/unique_fd.hpp"

namespace popbox::client {
namespace {

// One account at a time: an exclusive flock on state_dir/NAME.lock, gone
// when the process dies.
Failure lock_account(const AccountConfig& a, store::detail::UniqueFd& fd) {
  std::string path = a.state_dir + "/" + a.name + ".lock";
  fd.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) {
    return fail(fetch_errc::state, fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    return fail(fetch_errc::temporary,
                fmt::format("another popbox fetch is working on this account (lock {})", path));
  }
  return {};
}

// One connection: the session logs in with `secret` (wiped here), the
// engine delivers.
Failure attempt(const AccountConfig& a, const FetchOptions& o, Console& console, StateDb& db,
                std::string& secret, EngineStats& stats, const std::atomic<bool>* stop) {
  Console::Counters& counters = console.counters();
  SessionOptions so;
  so.secret = std::move(secret);
  wipe(secret);
  so.tls = a.tls;
  so.auth = a.auth;
  so.user = a.user;
  so.host = a.host;
  so.port = a.port;
  Session session(so);
  wipe(so.secret);  // the session keeps its own copy until the login is done
  auto deliverer = make_deliverer(a.deliver, a.timeout);
  EngineOptions eo;
  eo.dry_run = o.dry_run;
  eo.accept_new_uidls = o.accept_new_uidls;
  eo.now = o.now;
  Engine engine(a, db, *deliverer, console, counters, eo);
  if (auto f = engine.prepare()) return f;

  counters.active = true;
  asio::io_context io;
  Failure result;
  auto task = run_connection(a, session, engine, stop);
  auto done = [&result](std::exception_ptr e, Failure f) {
    result = std::move(f);
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        result = fail(fetch_errc::protocol, fmt::format("unexpected error: {}", ex.what()));
      }
    }
  };
  asio::co_spawn(io, std::move(task), std::move(done));
  io.run();
  counters.active = false;
  Failure finished = engine.finish();
  if (!result) result = std::move(finished);
  stats = engine.stats();
  return result;
}

Failure run_one(const AccountConfig& a, const FetchOptions& o, Console& console, EngineStats& stats,
                const std::atomic<bool>* stop, bool& started) {
  std::error_code ec;
  std::filesystem::create_directories(a.state_dir, ec);
  if (ec) {
    return fail(fetch_errc::state,
                fmt::format("cannot create state_dir {}: {}", a.state_dir, ec.message()));
  }
  store::detail::UniqueFd lock;
  if (auto f = lock_account(a, lock)) return f;
  std::string error;
  auto db = StateDb::open(a.state_dir + "/" + a.name + ".sqlite", error);
  if (!db) return fail(fetch_errc::state, fmt::format("state database {}", error));
  started = true;
  if (a.tls == TlsMode::none) {
    console.warn(
        fmt::format("{}: tls = \"none\": the password and the mail cross the network "
                    "unencrypted",
                    a.name));
  }
  if (!a.oauth) {
    std::string secret;
    if (auto f = account_secret(a, o.home, secret)) return f;
    return attempt(a, o, console, *db, secret, stats, stop);
  }
  // OAuth: a token from the store, refreshed when near expiry; a login
  // whose token was refused is retried once with a freshly refreshed one.
  // Token lifetimes are real time, never POPBOX_FETCH_NOW.
  auto now = [] { return static_cast<std::int64_t>(std::time(nullptr)); };
  std::string token;
  if (auto f = oauth::access_token(a, now(), false, token)) return f;
  Failure result = attempt(a, o, console, *db, token, stats, stop);
  // Only a refusal of the token itself ([AUTH] or a bare -ERR) is worth a
  // refresh; [SYS/PERM], [IN-USE] or no usable mechanism are not.
  if (result.code != make_error_code(fetch_errc::auth) || !result.credentials_refused ||
      stats.fetched > 0) {
    return result;
  }
  console.warn(fmt::format("{}: the server refused the access token; refreshing it once", a.name));
  if (auto f = oauth::access_token(a, now(), true, token)) return f;
  return attempt(a, o, console, *db, token, stats, stop);
}

}  // namespace

AccountOutcome run_account(const AccountConfig& a, const FetchOptions& o, Console& console,
                           const std::atomic<bool>* stop) {
  AccountOutcome out;
  auto started = std::chrono::steady_clock::now();
  out.failure = run_one(a, o, console, out.stats, stop, out.started);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return out;
}

std::string record_run_status(const AccountConfig& a, const AccountOutcome& r, std::int64_t at,
                              std::int64_t next_run) {
  std::string error;
  auto db = StateDb::open(a.state_dir + "/" + a.name + ".sqlite", error);
  if (!db) return error;
  if (db->record_run(at, r.failure ? r.failure.message : std::string(), r.stats.fetched,
                     r.stats.bytes, next_run)) {
    return db->last_error();
  }
  return {};
}

std::string run_summary(const AccountConfig& a, const EngineStats& s, double seconds) {
  std::string line =
      fmt::format("{}: fetched {} message{} ({}) in {:.2f} s", a.name, s.fetched,
                  s.fetched == 1 ? "" : "s", human_bytes(static_cast<double>(s.bytes)), seconds);
  if (s.deleted) line += fmt::format(", deleted {}", s.deleted);
  if (s.too_large) line += fmt::format(", {} too large left on the server", s.too_large);
  if (s.recovered) line += fmt::format(", {} recovered from an interrupted run", s.recovered);
  if (seconds > 0 && s.fetched > 0) {
    double rate = static_cast<double>(s.fetched) / seconds;
    std::string bytes = human_bytes(static_cast<double>(s.bytes) / seconds);
    line += rate >= 10 ? fmt::format(" ({:.0f} msg/s, {}/s)", rate, bytes)
                       : fmt::format(" ({:.2f} msg/s, {}/s)", rate, bytes);
  }
  return line;
}

int run_fetch(const FetchConfig& config, const FetchOptions& o, Console& console) {
  std::vector<const AccountConfig*> selected;
  for (const auto& a : config.accounts) {
    if (o.accounts.empty() ||
        std::find(o.accounts.begin(), o.accounts.end(), a.name) != o.accounts.end()) {
      selected.push_back(&a);
    }
  }
  for (const auto& name : o.accounts) {
    bool known = std::any_of(config.accounts.begin(), config.accounts.end(),
                             [&](const AccountConfig& a) { return a.name == name; });
    if (!known) {
      console.error(
          fmt::format("popbox fetch: no account named \"{}\" in {}", name, config.source.string()));
      return EX_CONFIG;
    }
  }
  std::vector<Failure> results(selected.size());
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < selected.size();) {
      const AccountConfig& a = *selected[i];
      AccountOutcome r = run_account(a, o, console);
      results[i] = r.failure;
      if (r.failure) console.error(fmt::format("popbox fetch: {}: {}", a.name, r.failure.message));
      if (!r.failure || r.stats.fetched > 0) console.info(run_summary(a, r.stats, r.seconds));
      if (!o.dry_run && r.started) {
        std::string why = record_run_status(a, r, static_cast<std::int64_t>(std::time(nullptr)), 0);
        if (!why.empty()) console.warn(fmt::format("{}: run status not recorded: {}", a.name, why));
      }
    }
  };
  unsigned threads =
      std::max(1u, std::min<unsigned>(o.jobs, static_cast<unsigned>(selected.size())));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  console.finish();
  for (const auto& r : results) {
    if (r) return exit_code(r.code);
  }
  return EX_OK;
}

}  // namespace popbox::client
