// PgStore in the Store contract suite (store_contract_test.cpp, compiled
// into unit_postgres): each test gets an empty, migrated database schema on
// the throwaway server of pg_fixture.hpp.
#include <chrono>
#include <thread>

#include "pg_fixture.hpp"
#include "store/postgres/pg_store.hpp"
#include "store/postgres/schema.hpp"
#include "store_contract.hpp"

namespace popbox::store::test {
namespace {

class PgPlace final : public ContractPlace {
 public:
  PgPlace() {
    if (popbox::test::pg_dsn.empty()) {
      // Recorded like GTEST_SKIP()/FAIL(): the test body then does not run.
      if (::getenv("POPBOX_REQUIRE_PG") != nullptr) {
        GTEST_MESSAGE_(popbox::test::pg_skip_reason.c_str(),
                       ::testing::TestPartResult::kFatalFailure);
      } else {
        GTEST_MESSAGE_(popbox::test::pg_skip_reason.c_str(), ::testing::TestPartResult::kSkip);
      }
      return;
    }
    std::error_code ec;
    std::string error;
    conn_ = pg::Connection::connect(popbox::test::pg_dsn, ec, &error);
    if (ec) {
      ADD_FAILURE() << error;
      return;
    }
    conn_->exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public", ec);
    if (!ec) pg::migrate(*conn_, false, ec);
    if (ec) {
      ADD_FAILURE() << conn_->last_error();
      return;
    }
    store_ = std::make_shared<pg::PgStore>(popbox::test::pg_dsn, 4);
  }

  std::shared_ptr<Store> store() override { return store_; }

  /// A new node on the same database, once the backends of a crashed child
  /// are gone (PostgreSQL ends them, and frees their locks, when it notices
  /// the closed socket; a restarted node would wait for that too).
  std::shared_ptr<Store> reopen() override {
    if (!conn_) return store_;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < give_up) {
      std::error_code ec;
      pg::Result r = conn_->exec(
          "SELECT (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory') + "
          "(SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%')",
          ec);
      if (ec || r.integer(0, 0) == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::make_shared<pg::PgStore>(popbox::test::pg_dsn, 4);
  }

 private:
  std::unique_ptr<pg::Connection> conn_;
  std::shared_ptr<Store> store_;
};

RegisterContractBackend postgres{{"postgres", [] { return std::make_unique<PgPlace>(); }}};

}  // namespace
}  // namespace popbox::store::test
