// Schema migrations against a real throwaway PostgreSQL.
#include <gtest/gtest.h>

#include "pg_fixture.hpp"
#include "store/postgres/pg_error.hpp"
#include "store/postgres/pg_store.hpp"
#include "store/postgres/schema.hpp"

namespace popbox::store::pg {
namespace {

using PgSchema = test::PgTest;

TEST_F(PgSchema, MigratesAFreshDatabaseThenHasNothingToDo) {
  std::error_code ec;
  EXPECT_EQ(current_version(*conn_, ec), 0);
  ASSERT_FALSE(ec);
  std::string message;
  MigrateReport r = migrate(*conn_, false, ec, &message);
  ASSERT_FALSE(ec) << message;
  EXPECT_EQ(r.from, 0);
  EXPECT_EQ(r.to, expected_version());
  EXPECT_EQ(r.applied.size(), migrations().size());
  EXPECT_EQ(current_version(*conn_, ec), expected_version());
  EXPECT_EQ(sql("SELECT count(*) FROM schema_version").integer(0, 0),
            static_cast<std::int64_t>(migrations().size()));
  EXPECT_FALSE(check_schema(*conn_, &message)) << message;

  r = migrate(*conn_, false, ec, &message);  // idempotent
  ASSERT_FALSE(ec) << message;
  EXPECT_EQ(r.from, expected_version());
  EXPECT_TRUE(r.applied.empty());
}

TEST_F(PgSchema, DryRunChangesNothing) {
  std::error_code ec;
  MigrateReport r = migrate(*conn_, true, ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(r.applied.size(), migrations().size());
  EXPECT_EQ(current_version(*conn_, ec), 0);
  EXPECT_EQ(sql("SELECT to_regclass('messages') IS NULL").value(0, 0), "t");
}

TEST_F(PgSchema, RefusesANewerSchemaAndTheNodeRefusesToStart) {
  std::error_code ec;
  migrate(*conn_, false, ec);
  ASSERT_FALSE(ec);
  const int newer = expected_version() + 1;
  sql("INSERT INTO schema_version (version, name) VALUES (" + std::to_string(newer) +
      ", 'future')");
  std::string message;
  MigrateReport r = migrate(*conn_, false, ec, &message);
  EXPECT_EQ(ec, make_error_code(pg_errc::schema_mismatch));
  EXPECT_NE(message.find("version " + std::to_string(newer)), std::string::npos) << message;
  EXPECT_TRUE(r.applied.empty());
  try {
    PgStore store(test::pg_dsn, 2);
    ADD_FAILURE() << "a node started on a newer schema";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("version " + std::to_string(newer)), std::string::npos) << what;
    EXPECT_NE(what.find("version " + std::to_string(expected_version())), std::string::npos);
  }
}

TEST_F(PgSchema, ANodeRefusesAnOlderSchemaNamingDbMigrate) {
  try {
    PgStore store(test::pg_dsn, 2);
    ADD_FAILURE() << "a node started without a schema";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("version 0"), std::string::npos) << what;
    EXPECT_NE(what.find("popbox db migrate"), std::string::npos) << what;
  }
}

TEST_F(PgSchema, UnreachableServerIsATemporaryError) {
  Pool pool("host=/nonexistent-popbox-dir port=1 connect_timeout=2", 1);
  std::error_code ec;
  std::string error;
  Lease l = pool.acquire(ec, &error);
  EXPECT_FALSE(l);
  EXPECT_EQ(ec, make_error_code(pg_errc::connection_lost));
  EXPECT_TRUE(is_temporary(ec));
  EXPECT_FALSE(error.empty());
}

TEST_F(PgSchema, ANodeStartsWhilePostgresIsDownAndFailsTemporarily) {
  PgStore store("host=/nonexistent-popbox-dir port=1 connect_timeout=2", 2);
  std::error_code ec;
  EXPECT_FALSE(store.open("alice", ec));
  EXPECT_TRUE(is_temporary(ec)) << ec.message();
  std::vector<Recipient> to{{"alice", ""}};
  store.deliver(
      to,
      [](std::span<char>, std::error_code& e) -> std::size_t {
        e.clear();
        return 0;
      },
      ec);
  EXPECT_TRUE(is_temporary(ec)) << ec.message();
}

TEST_F(PgSchema, NewConnectionsRefuseASchemaMigratedPastThem) {
  std::error_code ec;
  migrate(*conn_, false, ec);
  ASSERT_FALSE(ec);
  PgStore store(test::pg_dsn, 2);
  auto box = store.open("alice", ec);  // the idle connection is lent to it
  ASSERT_TRUE(box) << ec.message();
  sql("INSERT INTO schema_version (version, name) VALUES (" +
      std::to_string(expected_version() + 1) + ", 'future')");
  EXPECT_FALSE(store.open("bob", ec));  // needs a new connection: refused
  EXPECT_EQ(ec, make_error_code(pg_errc::schema_mismatch));
  EXPECT_FALSE(is_temporary(ec));
}

}  // namespace
}  // namespace popbox::store::pg
