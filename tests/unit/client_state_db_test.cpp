// The SQLite UIDL state.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "client/state_db.hpp"
#include "temp_dir.hpp"

using namespace popbox::client;
namespace fs = std::filesystem;

namespace {

using popbox::test::TempDir;

std::unique_ptr<StateDb> open_db(const std::string& path) {
  std::string error;
  auto db = StateDb::open(path, error);
  EXPECT_TRUE(db) << error;
  return db;
}

}  // namespace

TEST(StateDb, RecordLookupPendingForget) {
  TempDir dir;
  std::string path = dir.path + "/a.sqlite";
  {
    auto db = open_db(path);
    ASSERT_FALSE(db->record("u1", 100, false));
    ASSERT_FALSE(db->record("u2", 200, true));
    ASSERT_FALSE(db->record("u3", 300, false));
    ASSERT_FALSE(db->mark_pending({"u3"}));
    ASSERT_FALSE(db->forget({"u1"}));
  }
  auto db = open_db(path);  // survives reopening
  StateMap m;
  ASSERT_FALSE(db->load(m));
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m["u2"].downloaded_at, 200);
  EXPECT_TRUE(m["u2"].pending_delete);
  EXPECT_TRUE(m["u3"].pending_delete);
  EXPECT_EQ(db->count(), 2u);
}

TEST(StateDb, IntentsAreReplacedAndDroppedByRecord) {
  TempDir dir;
  auto db = open_db(dir.path + "/a.sqlite");
  ASSERT_FALSE(db->set_intent({"u1", "maildir:/m", "base1", 10}));
  ASSERT_FALSE(db->set_intent({"u2", "mbox:/b", "0", 11}));
  ASSERT_FALSE(db->set_intent({"u2", "mbox:/b", "123", 11}));
  std::vector<Intent> in;
  ASSERT_FALSE(db->intents(in));
  ASSERT_EQ(in.size(), 2u);
  ASSERT_FALSE(db->record("u1", 10, false));
  ASSERT_FALSE(db->drop_intent("u2"));
  in.clear();
  ASSERT_FALSE(db->intents(in));
  EXPECT_TRUE(in.empty());
}

TEST(StateDb, UsesWalAndFullSync) {
  TempDir dir;
  auto db = open_db(dir.path + "/a.sqlite");
  ASSERT_FALSE(db->record("u", 1, false));
  EXPECT_TRUE(fs::exists(dir.path + "/a.sqlite-wal"));
}

TEST(StateDb, UnusablePathIsAnError) {
  std::string error;
  EXPECT_FALSE(StateDb::open("/nonexistent-dir/x/a.sqlite", error));
  EXPECT_NE(error.find("/nonexistent-dir/x/a.sqlite"), std::string::npos);
}

TEST(StateDb, HundredThousandEntriesStayFast) {
  TempDir dir;
  std::string path = dir.path + "/big.sqlite";
  std::vector<std::pair<std::string, StateRow>> rows;
  for (int i = 0; i < 100000; ++i) {
    rows.push_back({"1700000000.M" + std::to_string(i) + "P4242.host", {1700000000 + i, false}});
  }
  auto t0 = std::chrono::steady_clock::now();
  {
    auto db = open_db(path);
    ASSERT_FALSE(db->record_batch(rows));
  }
  auto t1 = std::chrono::steady_clock::now();
  auto db = open_db(path);
  StateMap m;
  ASSERT_FALSE(db->load(m));
  auto t2 = std::chrono::steady_clock::now();
  ASSERT_EQ(m.size(), 100000u);
  // A session's own writes stay one small commit each with 100k rows.
  for (int i = 0; i < 20; ++i) ASSERT_FALSE(db->record("new" + std::to_string(i), 5, true));
  ASSERT_FALSE(db->forget({"new1", "new2"}));
  auto t3 = std::chrono::steady_clock::now();
  using ms = std::chrono::milliseconds;
  auto insert = std::chrono::duration_cast<ms>(t1 - t0).count();
  auto load = std::chrono::duration_cast<ms>(t2 - t1).count();
  auto commits = std::chrono::duration_cast<ms>(t3 - t2).count();
  std::printf("100k rows: insert %lld ms, load %lld ms, 21 commits %lld ms\n",
              static_cast<long long>(insert), static_cast<long long>(load),
              static_cast<long long>(commits));
  EXPECT_LT(insert, 5000);
  EXPECT_LT(load, 2000);
  EXPECT_LT(commits, 5000);
  EXPECT_EQ(db->count(), 100018u);
}
