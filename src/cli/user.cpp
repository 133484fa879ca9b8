// popbox user: add, change, remove and list the users of a Dovecot
// passwd-file, or with --db those of the PostgreSQL users table ([store] dsn
// of -c CONFIG). The editing itself lives in auth/passwd_edit and
// store/postgres/users (tested there); this file only reads arguments and
// passwords and maps errors to sysexits.
#include <sodium.h>
#include <sysexits.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "auth/passwd_edit.hpp"
#include "auth/passwd_file.hpp"
#include "auth/password_scheme.hpp"
#include "auth/scram.hpp"
#include "cli/db_connect.hpp"
#include "cli/verbs.hpp"
#include "store/postgres/pg_error.hpp"
#include "store/postgres/users.hpp"

namespace popbox::cli {
namespace {

struct UserOptions {
  std::string file;
  bool db = false;     ///< --db: the users table of -c CONFIG's [store] dsn
  std::string config;  ///< -c with --db
  std::string name;
  bool password_stdin = false;
  unsigned uid = 0, gid = 0;
  CLI::Option* uid_opt = nullptr;
  CLI::Option* gid_opt = nullptr;
  std::string home, extra;
  std::string scheme;  ///< --scheme; empty: ARGON2ID (add) or the current one (passwd)
};

/// A failure outside the editor, with its sysexits code.
struct Failure {
  int code;
  std::string message;
};

/// A password in memory, wiped when it goes out of scope.
struct Secret {
  std::string value;
  Secret() = default;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret() {
    if (!value.empty()) sodium_memzero(value.data(), value.size());
  }
};

/// Turns terminal echo off while alive; ECHONL still shows the newline.
class NoEcho {
 public:
  NoEcho() {
    ok_ = ::tcgetattr(STDIN_FILENO, &saved_) == 0;
    if (!ok_) return;
    termios t = saved_;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    t.c_lflag |= ECHONL;
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
  }
  ~NoEcho() {
    if (ok_) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
  }
  NoEcho(const NoEcho&) = delete;
  NoEcho& operator=(const NoEcho&) = delete;

 private:
  termios saved_{};
  bool ok_ = false;
};

/// One line of stdin without its line end, read byte by byte so that no copy
/// of the password stays in a stream buffer. False at end of input.
bool read_line(Secret& out) {
  // Reserve so push_back never reallocates and leaves a stray copy behind.
  out.value.reserve(1024);
  bool got_any = false;
  char c = 0;
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Failure{EX_IOERR, "cannot read standard input"};
    if (n == 0) break;
    got_any = true;
    if (c == '\n') break;
    if (out.value.size() == out.value.capacity()) throw Failure{EX_DATAERR, "password too long"};
    out.value.push_back(c);
  }
  c = 0;
  if (!out.value.empty() && out.value.back() == '\r') out.value.pop_back();
  return got_any;
}

/// The new password: the first line of stdin with --password-stdin, else
/// typed twice at the terminal without echo.
void read_password(bool from_stdin, Secret& password) {
  if (from_stdin) {
    if (!read_line(password)) throw Failure{EX_DATAERR, "no password on standard input"};
  } else {
    if (::isatty(STDIN_FILENO) == 0) {
      throw Failure{EX_USAGE, "standard input is not a terminal; use --password-stdin"};
    }
    Secret again;
    {
      NoEcho no_echo;
      std::cerr << "New password: " << std::flush;
      const bool first = read_line(password);
      std::cerr << "Retype new password: " << std::flush;
      if (!first || !read_line(again)) throw Failure{EX_DATAERR, "no password entered"};
    }
    if (password.value != again.value) throw Failure{EX_DATAERR, "passwords do not match"};
  }
  if (password.value.empty()) throw Failure{EX_DATAERR, "empty password refused"};
}

int exit_code(auth::EditErrc code) {
  switch (code) {
    case auth::EditErrc::no_file:
      return EX_NOINPUT;
    case auth::EditErrc::user_exists:
    case auth::EditErrc::no_such_user:
    case auth::EditErrc::invalid:
      return EX_DATAERR;
    case auth::EditErrc::permission:
      return EX_NOPERM;
    case auth::EditErrc::io:
      return EX_IOERR;
  }
  return EX_SOFTWARE;
}

/// Runs one verb, turning every error into a message and an exit code.
int run(const std::function<void()>& verb) {
  try {
    verb();
    return 0;
  } catch (const DbFailure& f) {
    std::cerr << "popbox user: " << f.what() << "\n";
    return f.code;
  } catch (const auth::PasswdEditError& e) {
    std::cerr << "popbox user: " << e.what() << "\n";
    return exit_code(e.code());
  } catch (const Failure& f) {
    std::cerr << "popbox user: " << f.message << "\n";
    return f.code;
  } catch (const std::exception& e) {
    std::cerr << "popbox user: " << e.what() << "\n";
    return EX_SOFTWARE;
  }
}

/// Whether `file` defines `name`. A missing file is an error (no_file)
/// unless `missing_ok`, when it counts as empty.
bool user_listed(const std::string& file, const std::string& name, bool missing_ok) {
  try {
    const auto names = auth::list_users(file);
    return std::find(names.begin(), names.end(), name) != names.end();
  } catch (const auth::PasswdEditError& e) {
    if (missing_ok && e.code() == auth::EditErrc::no_file) return false;
    throw;
  }
}

void do_add(const UserOptions& o) {
  auth::NewUser user;
  user.name = o.name;
  user.password = "{PLAIN}x";  // placeholder so format_line checks the other fields
  if (o.uid_opt->count() > 0) user.uid = o.uid;
  if (o.gid_opt->count() > 0) user.gid = o.gid;
  user.home = o.home;
  user.extra = o.extra;
  // Refuse bad input before asking for a password; add_user checks again
  // under the lock.
  (void)auth::format_line(user);
  if (user_listed(o.file, o.name, true)) {
    throw auth::PasswdEditError(auth::EditErrc::user_exists,
                                o.file + ": user " + o.name + " already exists");
  }
  Secret password;
  read_password(o.password_stdin, password);
  user.password = auth::hash_password(password.value, o.scheme.empty() ? "ARGON2ID" : o.scheme);
  auth::add_user(o.file, user);
}

/// --scheme, or else: a SCRAM user stays a SCRAM user (SCRAM cannot use an
/// Argon2 hash); everyone else, and a new user, gets ARGON2ID.
std::string scheme_for(const UserOptions& o, const std::optional<std::string>& current) {
  if (!o.scheme.empty()) return o.scheme;
  const bool scram = current && auth::split_scheme(*current).scheme == auth::scram_scheme;
  return scram ? std::string(auth::scram_scheme) : "ARGON2ID";
}

void do_passwd(const UserOptions& o) {
  // Checked before the prompt so nobody types a password in vain.
  if (!user_listed(o.file, o.name, false)) {
    throw auth::PasswdEditError(auth::EditErrc::no_such_user, o.file + ": no user " + o.name);
  }
  std::optional<std::string> current;
  if (o.scheme.empty()) {
    const auth::PasswdFile file = auth::PasswdFile::load(o.file);
    if (const auth::PasswdEntry* entry = file.find(o.name)) current = entry->password;
  }
  const std::string scheme = scheme_for(o, current);
  Secret password;
  read_password(o.password_stdin, password);
  auth::set_password(o.file, o.name, auth::hash_password(password.value, scheme));
}

void do_list(const UserOptions& o) {
  std::vector<std::string> warnings;
  const auto names = auth::list_users(o.file, &warnings);
  for (const std::string& w : warnings) std::cerr << "warning: " << w << "\n";
  for (const std::string& n : names) std::cout << n << "\n";
}

/// Throws for a failed database edit: the user's mistake, or the database's.
void check_db(const std::error_code& ec, const std::string& name) {
  if (!ec) return;
  using store::pg::pg_errc;
  if (ec == make_error_code(pg_errc::user_exists)) {
    throw Failure{EX_DATAERR, "user " + name + " already exists"};
  }
  if (ec == make_error_code(pg_errc::no_such_user)) throw Failure{EX_DATAERR, "no user " + name};
  throw Failure{store::pg::is_temporary(ec) ? EX_TEMPFAIL : EX_DATAERR, ec.message()};
}

/// The stored hash of `name`, or nullopt; connection errors throw.
std::optional<std::string> db_password(store::pg::Connection& conn, const std::string& name) {
  std::error_code ec;
  store::pg::Result r =
      conn.exec("SELECT password FROM users WHERE name = $1", store::pg::Params().text(name), ec);
  if (ec) throw Failure{EX_TEMPFAIL, conn.last_error()};
  if (r.rows() != 1) return std::nullopt;
  return std::string(r.value(0, 0));
}

void do_db(const UserOptions& o, const std::string& verb) {
  auto conn = connect_from_config(o.config);
  std::error_code ec;
  if (verb == "list") {
    const auto names = auth::list_db_users(*conn, ec);
    check_db(ec, "");
    for (const std::string& n : names) std::cout << n << "\n";
    return;
  }
  if (verb == "del") return check_db(auth::delete_db_user(*conn, o.name), o.name);
  if (o.uid_opt->count() > 0 || o.gid_opt->count() > 0) {
    throw Failure{EX_USAGE, "--uid/--gid do not apply to --db users (mail is not in files)"};
  }
  const std::optional<std::string> current = db_password(*conn, o.name);
  if (verb == "add" && current) throw Failure{EX_DATAERR, "user " + o.name + " already exists"};
  if (verb == "passwd" && !current) throw Failure{EX_DATAERR, "no user " + o.name};
  const std::string scheme = scheme_for(o, current);
  Secret password;
  read_password(o.password_stdin, password);
  const std::string hash = auth::hash_password(password.value, scheme);
  if (verb == "passwd") return check_db(auth::set_db_password(*conn, o.name, hash), o.name);
  auth::DbUser user;
  user.name = o.name;
  user.password = hash;
  user.home = o.home;
  user.extra = o.extra;
  check_db(auth::add_db_user(*conn, user), o.name);
}

/// Runs `verb` on the passwd-file (--file) or the database (--db -c).
int dispatch(const UserOptions& o, const std::string& verb,
             const std::function<void()>& file_verb) {
  if (o.db != o.file.empty()) {
    std::cerr << "popbox user: give either --file FILE or --db -c CONFIG\n";
    return EX_USAGE;
  }
  if (!o.db) return run(file_verb);
  if (o.config.empty()) {
    std::cerr << "popbox user: --db needs -c CONFIG (its [store] dsn)\n";
    return EX_USAGE;
  }
  return run([&] { do_db(o, verb); });
}

}  // namespace

void add_user(CLI::App& app, int& rc) {
  auto* cmd = app.add_subcommand(
      "user", "Manage the users of a Dovecot passwd-file (or, with --db, of PostgreSQL)");
  cmd->require_subcommand(1);
  auto o = std::make_shared<UserOptions>();
  cmd->add_option("-f,--file", o->file, "passwd-file to read or edit");
  cmd->add_flag("--db", o->db, "Edit the users table of PostgreSQL ([store] dsn of -c) instead");
  cmd->add_option("-c,--config", o->config, "Configuration file (TOML), with --db");
  // Inherited by the verbs below, so --file may also follow them.
  cmd->fallthrough();

  auto* add = cmd->add_subcommand("add", "Add a user (creates the file, mode 0600, if missing)");
  add->add_option("user", o->name, "User name")->required();
  add->add_flag("--password-stdin", o->password_stdin, "Read the password from stdin's first line");
  o->uid_opt = add->add_option("--uid", o->uid, "Numeric user id (field 3)");
  o->gid_opt = add->add_option("--gid", o->gid, "Numeric group id (field 4)");
  add->add_option("--home", o->home, "Home directory (field 6)");
  add->add_option("--extra", o->extra, "Extra fields, e.g. 'userdb_quota_rule=*:storage=1G'");
  const auto schemes = CLI::IsMember({"ARGON2ID", "SCRAM-SHA-256"}, CLI::ignore_case);
  add->add_option("--scheme", o->scheme, "Password scheme: ARGON2ID (default) or SCRAM-SHA-256")
      ->check(schemes);
  add->callback([o, &rc] { rc = dispatch(*o, "add", [&] { do_add(*o); }); });

  auto* passwd = cmd->add_subcommand("passwd", "Change a user's password");
  passwd->add_option("user", o->name, "User name")->required();
  passwd->add_flag("--password-stdin", o->password_stdin,
                   "Read the password from stdin's first line");
  passwd
      ->add_option("--scheme", o->scheme,
                   "Password scheme (default: SCRAM-SHA-256 if the user has it, else ARGON2ID)")
      ->check(schemes);
  passwd->callback([o, &rc] { rc = dispatch(*o, "passwd", [&] { do_passwd(*o); }); });

  auto* del = cmd->add_subcommand("del", "Remove a user");
  del->add_option("user", o->name, "User name")->required();
  del->callback(
      [o, &rc] { rc = dispatch(*o, "del", [&] { auth::delete_user(o->file, o->name); }); });

  auto* list = cmd->add_subcommand("list", "Print the user names, one per line");
  list->callback([o, &rc] { rc = dispatch(*o, "list", [&] { do_list(*o); }); });
}

}  // namespace popbox::cli
