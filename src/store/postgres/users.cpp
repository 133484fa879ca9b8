// Users in PostgreSQL.
#include "store/postgres/users.hpp"

#include <sodium.h>

#include <cstring>
#include <stdexcept>

#include "auth/password_scheme.hpp"
#include "core/limits.hpp"
#include "core/log.hpp"
#include "store/postgres/pg_error.hpp"
#include "store/postgres/schema.hpp"

namespace popbox::auth {
namespace {

using store::pg::Connection;
using store::pg::Params;
using store::pg::pg_errc;
using store::pg::Result;
using store::pg::Statement;

constexpr Statement find_user{
    "popbox_find_user",
    "SELECT name, password, home, extra, quota_storage, quota_messages FROM users "
    "WHERE name = $1"};

}  // namespace

UserInfo user_info(const DbUser& user) {
  UserInfo info;
  info.name = user.name;
  info.home = user.home;
  info.extra = user.extra;
  std::string rule;
  if (user.quota_storage > 0) rule += ":storage=" + std::to_string(user.quota_storage) + "B";
  if (user.quota_messages > 0) rule += ":messages=" + std::to_string(user.quota_messages);
  if (!rule.empty()) {
    // Last, so the columns win over a rule written in `extra`.
    if (!info.extra.empty()) info.extra += ' ';
    info.extra += "userdb_quota_rule=*" + rule;
  }
  return info;
}

PgUserSource::PgUserSource(std::shared_ptr<store::pg::Pool> pool)
    : pool_(std::move(pool)), dummy_(dummy_hash_like(hash_password("popbox-dummy"))) {}

std::optional<std::string> PgUserSource::reload() {
  return check(nullptr);
}

std::optional<std::string> PgUserSource::check(bool* unreachable) {
  std::error_code ec;
  std::string error;
  // Twice: an idle connection may have died with a server restart (the
  // pool drops it when it comes back broken); the second one is new.
  for (int attempt = 0; attempt < 2; ++attempt) {
    error.clear();
    store::pg::Lease lease = pool_->acquire(ec, &error);
    if (ec) {
      if (unreachable) *unreachable = true;
      break;
    }
    (void)lease->exec("SELECT 1 FROM users LIMIT 1", ec);
    if (!ec) return std::nullopt;
    error = lease->last_error();
    if (!lease->broken()) break;
  }
  if (error.empty()) error = ec.message();
  return "[auth] source = \"postgres\": cannot read the users table: " + error;
}

void PgUserSource::load() {
  bool unreachable = false;
  auto err = check(&unreachable);
  if (!err) return;
  // A node that starts while PostgreSQL is down (a cluster restarting
  // together) comes up and answers [SYS/TEMP] until it is back, as the
  // mail store does; a database without the users table is a mistake to
  // fix first.
  if (!unreachable) throw std::runtime_error(*err);
  core::log_warn(*err + " (starting anyway: logins get [SYS/TEMP] until it is reachable)");
}

std::optional<UserEntry> PgUserSource::find(std::string_view name, std::error_code& ec) {
  std::optional<DbUser> row = find_row(name, ec);
  if (!row) return std::nullopt;
  UserEntry e(user_info(*row), row->password);
  sodium_memzero(row->password.data(), row->password.size());
  return e;
}

std::optional<DbUser> PgUserSource::find_row(std::string_view name, std::error_code& ec) {
  std::optional<DbUser> out;
  ec = pool_->with([&](Connection& c, std::error_code& e) {
    Result r = c.run(find_user, Params().text(std::string(name)), e);
    if (e || r.rows() != 1) return;
    DbUser u;
    u.name = r.value(0, 0);
    u.password = r.value(0, 1);
    u.home = r.value(0, 2);
    u.extra = r.value(0, 3);
    u.quota_storage = static_cast<std::uint64_t>(r.integer(0, 4));
    u.quota_messages = static_cast<std::uint64_t>(r.integer(0, 5));
    out = std::move(u);
  });
  return out;
}

std::optional<UserInfo> PgUserSource::lookup(std::string_view name, std::error_code& ec) {
  std::optional<DbUser> u = find_row(name, ec);
  if (!u) return std::nullopt;
  sodium_memzero(u->password.data(), u->password.size());
  return user_info(*u);
}

std::optional<UserInfo> PgUserSource::verify_password(std::string_view name,
                                                      std::string_view password,
                                                      std::error_code& ec) {
  std::optional<DbUser> u = find_row(name, ec);
  if (ec) return std::nullopt;
  const bool ok =
      popbox::auth::verify_password(u ? u->password : dummy_, password) && u.has_value();
  if (u) sodium_memzero(u->password.data(), u->password.size());
  if (!ok) return std::nullopt;
  return user_info(*u);
}

std::shared_ptr<PgUserSource> make_pg_user_source(const std::string& dsn) {
  auto pool = std::make_shared<store::pg::Pool>(dsn, limits::pg_user_pool_size);
  // As the store's pool does: a schema this popbox does not know is refused.
  pool->set_connect_check(
      [](Connection& c, std::string* error) { return store::pg::check_schema(c, error); });
  return std::make_shared<PgUserSource>(std::move(pool));
}

std::error_code add_db_user(Connection& conn, const DbUser& user) {
  std::error_code ec;
  Params p;
  p.text(user.name).text(user.password).text(user.home).text(user.extra);
  p.integer(static_cast<std::int64_t>(user.quota_storage));
  p.integer(static_cast<std::int64_t>(user.quota_messages));
  Result r = conn.exec(
      "INSERT INTO users (name, password, home, extra, quota_storage, quota_messages) "
      "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
      p, ec);
  if (!ec && std::strcmp(PQcmdTuples(r.get()), "0") == 0) ec = pg_errc::user_exists;
  return ec;
}

std::error_code set_db_password(Connection& conn, std::string_view name, std::string_view hash) {
  std::error_code ec;
  Result r = conn.exec("UPDATE users SET password = $2 WHERE name = $1",
                       Params().text(std::string(name)).text(std::string(hash)), ec);
  if (!ec && std::strcmp(PQcmdTuples(r.get()), "0") == 0) ec = pg_errc::no_such_user;
  return ec;
}

std::error_code delete_db_user(Connection& conn, std::string_view name) {
  std::error_code ec;
  Result r = conn.exec("DELETE FROM users WHERE name = $1", Params().text(std::string(name)), ec);
  if (!ec && std::strcmp(PQcmdTuples(r.get()), "0") == 0) ec = pg_errc::no_such_user;
  return ec;
}

std::vector<std::string> list_db_users(Connection& conn, std::error_code& ec) {
  std::vector<std::string> names;
  Result r = conn.exec("SELECT name FROM users ORDER BY name", ec);
  if (ec) return names;
  for (int i = 0; i < r.rows(); ++i) names.emplace_back(r.value(i, 0));
  return names;
}

}  // namespace popbox::auth
