#pragma once
// [auth] source = "postgres": users and their password hashes in the users
// table, in the passwd-file's formats (auth/password_scheme), so that any
// node authenticates any user. Every call blocks on the database: run it on
// the blocking pool.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "auth/user_info.hpp"
#include "auth/user_source.hpp"
#include "store/postgres/pool.hpp"

namespace popbox::auth {

/// One row of the users table.
struct DbUser {
  std::string name;
  std::string password;  ///< "{SCHEME}data", as in a passwd-file
  std::string home;
  std::string extra;                 ///< key=value fields, as the passwd-file's field 8
  std::uint64_t quota_storage = 0;   ///< bytes; 0: the [quota] default
  std::uint64_t quota_messages = 0;  ///< 0: the [quota] default
};

/// The users table as a UserSource, on a pool of its own.
class PgUserSource final : public UserSource {
 public:
  explicit PgUserSource(std::shared_ptr<store::pg::Pool> pool);

  /// Checks that the users table can be read; throws std::runtime_error
  /// with libpq's or the schema check's words when the database answers
  /// without it, and only logs a warning when the database is unreachable
  /// (the node starts and answers [SYS/TEMP] until it is back).
  void load() override;
  /// The same check as load(): there is nothing to reread, every find()
  /// asks the database. The message when it fails.
  std::optional<std::string> reload() override;
  /// False: every find() reads the table, so nothing goes stale here; the
  /// credential cache's TTL bounds how long a changed password still works.
  bool refresh() override { return false; }
  /// The user's row as a UserEntry (see user_info()); ec on a database error.
  std::optional<UserEntry> find(std::string_view name, std::error_code& ec) override;
  /// An Argon2id hash no password matches (what hash_password() writes).
  std::string dummy_password() override { return dummy_; }

  /// The user's row; nullopt when there is none. ec on a database error
  /// (store::pg::is_temporary tells whether to answer [SYS/TEMP]).
  std::optional<DbUser> find_row(std::string_view name, std::error_code& ec);
  /// What a login needs of the user: the passwd-file's UserInfo, with the
  /// quota columns appended to `extra` as a userdb_quota_rule.
  std::optional<UserInfo> lookup(std::string_view name, std::error_code& ec);
  /// The user's UserInfo only if `password` matches the stored hash. An
  /// unknown user costs the same work as a known one (a dummy hash is
  /// checked), so timing tells nothing.
  std::optional<UserInfo> verify_password(std::string_view name, std::string_view password,
                                          std::error_code& ec);

 private:
  // reload()'s check; sets *unreachable when no connection could be made.
  std::optional<std::string> check(bool* unreachable);

  std::shared_ptr<store::pg::Pool> pool_;
  std::string dummy_;  ///< an Argon2id hash no password matches
};

/// The users of the database `dsn` on a pool of limits::pg_user_pool_size
/// connections that check the schema version ([auth] source = "postgres").
std::shared_ptr<PgUserSource> make_pg_user_source(const std::string& dsn);

/// The passwd-file view of a row.
UserInfo user_info(const DbUser& user);

/// Inserts `user`; pg_errc::user_exists when the name is taken.
std::error_code add_db_user(store::pg::Connection& conn, const DbUser& user);
/// Replaces the stored password hash; no_such_user when there is none.
std::error_code set_db_password(store::pg::Connection& conn, std::string_view name,
                                std::string_view hash);
/// Removes the user (not their mail); no_such_user when there is none.
std::error_code delete_db_user(store::pg::Connection& conn, std::string_view name);
/// Every user name, sorted.
std::vector<std::string> list_db_users(store::pg::Connection& conn, std::error_code& ec);

}  // namespace popbox::auth
