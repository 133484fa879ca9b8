// Users in PostgreSQL: the passwd-file's hash formats, edits, lookups.
#include <gtest/gtest.h>

#include "auth/authenticator.hpp"
#include "auth/password_scheme.hpp"
#include "pg_fixture.hpp"
#include "store/postgres/pg_error.hpp"
#include "store/postgres/schema.hpp"
#include "store/postgres/users.hpp"

namespace popbox::auth {
namespace {

class PgUsers : public test::PgTest {
 protected:
  void SetUp() override {
    test::PgTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    std::error_code ec;
    store::pg::migrate(*conn_, false, ec);
    ASSERT_FALSE(ec);
    pool_ = std::make_shared<store::pg::Pool>(test::pg_dsn, 2);
  }
  std::shared_ptr<store::pg::Pool> pool_;
};

TEST_F(PgUsers, AddVerifyChangeDelete) {
  DbUser u;
  u.name = "alice@example.com";
  u.password = hash_password("right horse");
  u.extra = "userdb_quota_rule=*:storage=1G";
  u.quota_messages = 500;
  ASSERT_FALSE(add_db_user(*conn_, u));
  EXPECT_EQ(add_db_user(*conn_, u), make_error_code(store::pg::pg_errc::user_exists));
  DbUser plain{"bob", "{PLAIN}bob pw", "/home/bob", "", 0, 0};
  ASSERT_FALSE(add_db_user(*conn_, plain));
  DbUser scram{"sam", hash_password("sam pw", "SCRAM-SHA-256"), "", "", 0, 0};
  ASSERT_FALSE(add_db_user(*conn_, scram));

  PgUserSource users(pool_);
  std::error_code ec;
  auto info = users.verify_password("alice@example.com", "right horse", ec);
  ASSERT_TRUE(info);
  EXPECT_FALSE(ec);
  EXPECT_EQ(info->name, "alice@example.com");
  EXPECT_FALSE(info->uid);
  // The column comes last, so it overrides a rule of its kind in `extra`.
  EXPECT_EQ(info->extra, "userdb_quota_rule=*:storage=1G userdb_quota_rule=*:messages=500");
  EXPECT_FALSE(users.verify_password("alice@example.com", "wrong", ec));
  EXPECT_FALSE(ec);
  EXPECT_FALSE(users.verify_password("nobody", "right horse", ec));
  EXPECT_FALSE(ec);
  EXPECT_TRUE(users.verify_password("bob", "bob pw", ec));
  EXPECT_EQ(users.lookup("bob", ec)->home, "/home/bob");
  EXPECT_TRUE(users.verify_password("sam", "sam pw", ec));

  ASSERT_FALSE(set_db_password(*conn_, "bob", hash_password("new pw")));
  EXPECT_FALSE(users.verify_password("bob", "bob pw", ec));
  EXPECT_TRUE(users.verify_password("bob", "new pw", ec));
  EXPECT_EQ(set_db_password(*conn_, "nobody", "x"),
            make_error_code(store::pg::pg_errc::no_such_user));

  auto names = list_db_users(*conn_, ec);
  EXPECT_EQ(names, (std::vector<std::string>{"alice@example.com", "bob", "sam"}));
  ASSERT_FALSE(delete_db_user(*conn_, "bob"));
  EXPECT_EQ(delete_db_user(*conn_, "bob"), make_error_code(store::pg::pg_errc::no_such_user));
  EXPECT_FALSE(users.lookup("bob", ec));
  EXPECT_FALSE(ec);
}

TEST_F(PgUsers, DatabaseDownIsATemporaryErrorNotAWrongPassword) {
  auto dead = std::make_shared<store::pg::Pool>("host=/nonexistent-popbox port=1", 1);
  PgUserSource users(dead);
  std::error_code ec;
  EXPECT_FALSE(users.verify_password("alice", "pw", ec));
  EXPECT_TRUE(store::pg::is_temporary(ec));
}

TEST_F(PgUsers, TheTableIsAUserSourceForTheAuthenticator) {
  ASSERT_FALSE(add_db_user(*conn_, DbUser{"bob", "{PLAIN}bob pw", "/home/bob", "", 0, 0}));
  ASSERT_FALSE(
      add_db_user(*conn_, DbUser{"sam", hash_password("sam pw", "SCRAM-SHA-256"), "", "", 0, 7}));
  auto source = make_pg_user_source(test::pg_dsn);
  Authenticator a(source);
  EXPECT_NO_THROW(a.load());
  EXPECT_EQ(a.reload(), std::nullopt);
  EXPECT_FALSE(source->refresh());
  EXPECT_EQ(a.verify_password("bob", "bob pw"), AuthResult::ok);
  EXPECT_EQ(a.verify_password("bob", "wrong"), AuthResult::bad_credentials);
  EXPECT_EQ(a.verify_password("nobody", "bob pw"), AuthResult::bad_credentials);
  EXPECT_EQ(a.verify_password("sam", "sam pw"), AuthResult::ok);
  EXPECT_EQ(a.scram_lookup("sam").result, AuthResult::ok);
  std::error_code ec;
  auto sam = a.lookup("sam", ec);
  ASSERT_TRUE(sam);
  EXPECT_EQ(sam->extra, "userdb_quota_rule=*:messages=7");
  EXPECT_FALSE(a.lookup("nobody", ec));
  EXPECT_FALSE(ec);
  EXPECT_EQ(split_scheme(source->dummy_password()).scheme, "ARGON2ID");
}

TEST_F(PgUsers, AnUnreachableDatabaseIsAClearMessageAndATemporaryFailure) {
  auto source = make_pg_user_source("host=/nonexistent-popbox port=1 connect_timeout=2");
  // reload() (SIGHUP, `popbox check`) says what is wrong; load() lets a
  // node start and answer [SYS/TEMP] until the database is back.
  auto message = source->reload();
  ASSERT_TRUE(message);
  EXPECT_NE(message->find("users table"), std::string::npos) << *message;
  EXPECT_NO_THROW(source->load());
  Authenticator a(source);
  EXPECT_EQ(a.verify_password("bob", "bob pw"), AuthResult::temp_failure);
  EXPECT_EQ(a.scram_lookup("bob").result, AuthResult::temp_failure);
  std::error_code ec;
  EXPECT_FALSE(a.lookup("bob", ec));
  EXPECT_TRUE(store::pg::is_temporary(ec));
}

}  // namespace
}  // namespace popbox::auth
