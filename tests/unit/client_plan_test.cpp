// The session plan: what to download, delete, skip and forget.
#include <gtest/gtest.h>

#include "client/plan.hpp"

using namespace popbox::client;

namespace {

std::vector<ListEntry> listing(std::initializer_list<std::pair<const char*, std::uint64_t>> l) {
  std::vector<ListEntry> out;
  std::size_t n = 0;
  for (auto& [uidl, size] : l) out.push_back({++n, size, uidl});
  return out;
}

std::vector<std::string> uidls(const std::vector<ListEntry>& l, const std::vector<std::size_t>& i) {
  std::vector<std::string> out;
  for (std::size_t k : i) out.push_back(l[k].uidl);
  return out;
}

using V = std::vector<std::string>;

PlanOptions opts(bool keep, std::int64_t now, int keep_days = 0,
                 std::optional<std::uint64_t> max_size = std::nullopt, bool accept = false) {
  PlanOptions o;
  o.keep = keep;
  o.now = now;
  o.keep_days = keep_days;
  o.max_size = max_size;
  o.accept_new_uidls = accept;
  return o;
}

}  // namespace

TEST(Plan, KeepModeFetchesOnlyNewMessages) {
  auto l = listing({{"a", 10}, {"b", 20}, {"c", 30}});
  StateMap state{{"a", {100, false}}};
  Plan p = make_plan(l, state, opts(true, 200));
  EXPECT_EQ(uidls(l, p.fetch), (V{"b", "c"}));
  EXPECT_TRUE(p.remove.empty());
  EXPECT_EQ(p.known, 1u);
}

TEST(Plan, DeleteModeDeletesWhatIsRecorded) {
  auto l = listing({{"a", 10}, {"b", 20}});
  StateMap state{{"a", {100, false}}};
  Plan p = make_plan(l, state, opts(false, 200));
  EXPECT_EQ(uidls(l, p.fetch), (V{"b"}));
  EXPECT_EQ(uidls(l, p.remove), (V{"a"}));
}

TEST(Plan, PendingDeletesAreSentAgainEvenInKeepMode) {
  auto l = listing({{"a", 10}});
  StateMap state{{"a", {100, true}}};
  Plan p = make_plan(l, state, opts(true, 200));
  EXPECT_EQ(uidls(l, p.remove), (V{"a"}));
}

TEST(Plan, KeepDaysDeletesAfterTheDeadline) {
  auto l = listing({{"old", 1}, {"young", 1}});
  const std::int64_t day = 86400;
  StateMap state{{"old", {0, false}}, {"young", {5 * day, false}}};
  Plan p = make_plan(l, state, opts(true, 7 * day, 7));
  EXPECT_EQ(uidls(l, p.remove), (V{"old"}));
  Plan never = make_plan(l, state, opts(true, 1000 * day));
  EXPECT_TRUE(never.remove.empty());
}

TEST(Plan, TooLargeMessagesStayAndAreReported) {
  auto l = listing({{"small", 100}, {"big", 1000}, {"edge", 500}});
  Plan p = make_plan(l, {}, opts(true, 1, 0, 500));
  EXPECT_EQ(uidls(l, p.fetch), (V{"small", "edge"}));
  EXPECT_EQ(uidls(l, p.too_large), (V{"big"}));
}

TEST(Plan, DuplicateUidlsAreLeftAlone) {
  auto l = listing({{"x", 1}, {"x", 2}, {"y", 3}});
  Plan p = make_plan(l, {}, opts(true, 1));
  EXPECT_EQ(uidls(l, p.fetch), (V{"y"}));
  EXPECT_EQ(p.duplicates.size(), 2u);
}

TEST(Plan, AllUidlsChangedRefusesToDownloadAgain) {
  StateMap state;
  for (int i = 0; i < 20; ++i) state["old" + std::to_string(i)] = {1, false};
  auto l = listing({{"new1", 1}, {"new2", 1}});
  Plan p = make_plan(l, state, opts(true, 2));
  EXPECT_TRUE(p.uidls_changed);
  EXPECT_TRUE(p.fetch.empty());
  EXPECT_TRUE(p.forget.empty());
  Plan accepted = make_plan(l, state, opts(true, 2, 0, std::nullopt, true));
  EXPECT_FALSE(accepted.uidls_changed);
  EXPECT_EQ(accepted.fetch.size(), 2u);
  // A few known rows are not "many": a new mailbox is just fetched.
  StateMap few{{"a", {1, false}}};
  EXPECT_FALSE(make_plan(l, few, opts(true, 2)).uidls_changed);
  // Pending deletes do not count: those messages are meant to vanish.
  StateMap pending;
  for (int i = 0; i < 20; ++i) pending["p" + std::to_string(i)] = {1, true};
  EXPECT_FALSE(make_plan(l, pending, opts(true, 2)).uidls_changed);
}

TEST(Plan, ForgetsVanishedRowsOnlyWhenTheListingOverlaps) {
  StateMap state{{"a", {1, false}}, {"gone", {1, false}}, {"deleted", {1, true}}};
  auto overlap = listing({{"a", 1}});
  Plan p = make_plan(overlap, state, opts(true, 2));
  std::sort(p.forget.begin(), p.forget.end());
  EXPECT_EQ(p.forget, (V{"deleted", "gone"}));
  Plan empty = make_plan({}, state, opts(true, 2));
  EXPECT_EQ(empty.forget, (V{"deleted"}));
}

TEST(Plan, RunBoundsTakeAPrefixOfTheNewMessagesAndDeferTheRest) {
  auto l = listing({{"a", 10}, {"b", 20}, {"c", 30}, {"d", 5}, {"e", 1}});
  StateMap state{{"b", {100, false}}};
  PlanOptions o = opts(/*keep=*/true, 1000);
  o.max_messages = 2;
  Plan p = make_plan(l, state, o);
  EXPECT_EQ(uidls(l, p.fetch), (V{"a", "c"}));
  EXPECT_EQ(uidls(l, p.deferred), (V{"d", "e"}));
  // By listed bytes: "d" would pass 45 bytes; "e" is not taken out of
  // order either (a run takes a prefix, so the next run resumes in order).
  o.max_messages = 100;
  o.max_bytes = 45;
  p = make_plan(l, state, o);
  EXPECT_EQ(uidls(l, p.fetch), (V{"a", "c", "d"}));
  EXPECT_EQ(uidls(l, p.deferred), (V{"e"}));
  o.max_bytes = 44;
  p = make_plan(l, state, o);
  EXPECT_EQ(uidls(l, p.fetch), (V{"a", "c"}));
  EXPECT_EQ(uidls(l, p.deferred), (V{"d", "e"}));
  // The first message is taken whatever its size, so a run always moves on.
  o.max_bytes = 1;
  p = make_plan(l, state, o);
  EXPECT_EQ(uidls(l, p.fetch), (V{"a"}));
  EXPECT_EQ(uidls(l, p.deferred), (V{"c", "d", "e"}));
  // Deletions are not bounded by the run: known messages still go.
  p = make_plan(l, state, opts(/*keep=*/false, 1000));
  EXPECT_EQ(uidls(l, p.remove), (V{"b"}));
}
