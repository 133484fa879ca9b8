#pragma once
// A throwaway PostgreSQL for the unit tests that need a database. One server
// per test binary (a GoogleTest environment), started and stopped through
// tests/integration/pg.py, the recipe the integration tests use too. Each
// test gets an empty `public` schema (PgTest::SetUp). Without PostgreSQL
// installed the tests are skipped with a message, unless POPBOX_REQUIRE_PG
// is set (./scripts/test sets it), when they fail.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include "store/postgres/connection.hpp"

namespace popbox::test {

/// The running server's DSN, or empty (then `pg_skip_reason`).
inline std::string pg_dsn;
inline std::string pg_skip_reason;

class PgEnvironment final : public ::testing::Environment {
 public:
  void SetUp() override {
    if (::access("/usr/lib/postgresql/15/bin/initdb", X_OK) != 0 &&
        ::getenv("POPBOX_PG_BIN") == nullptr) {
      pg_skip_reason = "PostgreSQL is not installed (no initdb): apt-get install postgresql";
      return;
    }
    char tmpl[] = "/tmp/popbox-pgunit-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      pg_skip_reason = "mkdtemp failed";
      return;
    }
    dir_ = tmpl;
    const std::string cmd = "python3 " POPBOX_SOURCE_DIR "/tests/integration/pg.py start " + dir_;
    std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), &::pclose);
    std::array<char, 1024> line{};
    if (p && std::fgets(line.data(), line.size(), p.get()) != nullptr) pg_dsn = line.data();
    while (!pg_dsn.empty() && pg_dsn.back() == '\n') pg_dsn.pop_back();
    if (pg_dsn.empty()) pg_skip_reason = "could not start PostgreSQL: " + cmd;
  }
  void TearDown() override {
    if (dir_.empty()) return;
    const std::string cmd = "python3 " POPBOX_SOURCE_DIR "/tests/integration/pg.py stop " + dir_;
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "failed: %s\n", cmd.c_str());
  }

 private:
  std::string dir_;
};

inline ::testing::Environment* const pg_environment =
    ::testing::AddGlobalTestEnvironment(new PgEnvironment);

/// A test on an empty database: SetUp wipes the `public` schema.
class PgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (pg_dsn.empty()) {
      if (::getenv("POPBOX_REQUIRE_PG") != nullptr) FAIL() << pg_skip_reason;
      GTEST_SKIP() << pg_skip_reason;
    }
    std::error_code ec;
    std::string error;
    conn_ = store::pg::Connection::connect(pg_dsn, ec, &error);
    ASSERT_FALSE(ec) << error;
    conn_->exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public", ec);
    ASSERT_FALSE(ec) << conn_->last_error();
  }
  /// Runs `sql` on the test's own connection; fails the test on error.
  store::pg::Result sql(const std::string& sql) {
    std::error_code ec;
    store::pg::Result r = conn_->exec(sql, ec);
    EXPECT_FALSE(ec) << sql << ": " << conn_->last_error();
    return r;
  }

  std::unique_ptr<store::pg::Connection> conn_;
};

}  // namespace popbox::test
