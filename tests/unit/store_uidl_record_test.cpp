// popbox-uidls: round trip, torn appends, damage, and the assignment rules
// (precedence, rejection, uniqueness) that decide what gets recorded.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "store/uidl_assign.hpp"
#include "store/uidl_record.hpp"

namespace popbox::store::detail {
namespace {

TEST(UidlRecord, RoundTrip) {
  std::vector<RecordedUidl> entries = {{"1700000000.M1P2.host,S=19", "000000016b045bf1"},
                                       {"odd name%\x7f", "UID7-100"}};
  std::string text = format_recorded_uidls(entries, true, 1700000000);
  EXPECT_EQ(text,
            "popbox-uidls 1\n"
            "u 000000016b045bf1 1700000000.M1P2.host,S=19\n"
            "u UID7-100 odd%20name%25%7F\n"
            "closed 1700000000\n");
  auto parsed = parse_recorded_uidls(text);
  EXPECT_TRUE(parsed.exists);
  EXPECT_TRUE(parsed.closed);
  EXPECT_EQ(parsed.bad_lines, 0u);
  EXPECT_TRUE(parsed.ends_with_newline);
  ASSERT_EQ(parsed.entries.size(), 2u);
  EXPECT_EQ(parsed.entries[1].base, "odd name%\x7f");
  EXPECT_EQ(parsed.entries[1].uidl, "UID7-100");
  EXPECT_FALSE(parse_recorded_uidls(format_recorded_uidls(entries, false, 0)).closed);
}

TEST(UidlRecord, TornAppendAndDamageAreSkipped) {
  std::string text =
      "popbox-uidls 1\n"
      "u good base.one\n"
      "closed 1\n"
      "u " +
      std::string(71, 'x') +
      " too.long\n"
      "u bad\x01uidl base\n"
      "u nobase\n"
      "u x bad/base\n"
      "u x %41\n"  // 'A' needs no escape: not our spelling
      "u x .dot\n"
      "v x base\n"
      "\n"
      "u good2 base.two\n"
      "u torn bas";
  auto parsed = parse_recorded_uidls(text);
  EXPECT_TRUE(parsed.closed);
  EXPECT_FALSE(parsed.ends_with_newline);
  ASSERT_EQ(parsed.entries.size(), 2u);
  EXPECT_EQ(parsed.entries[1].uidl, "good2");
  EXPECT_EQ(parsed.bad_lines, 9u);
}

TEST(UidlRecord, EveryTruncationKeepsOnlyWholeLines) {
  std::vector<RecordedUidl> entries;
  for (int i = 0; i < 5; ++i) entries.push_back({"b" + std::to_string(i), "u" + std::to_string(i)});
  std::string text = format_recorded_uidls(entries, false, 0);
  for (std::size_t n = 0; n <= text.size(); ++n) {
    auto parsed = parse_recorded_uidls(text.substr(0, n));
    for (std::size_t i = 0; i < parsed.entries.size(); ++i) {
      EXPECT_EQ(parsed.entries[i].base, entries[i].base);
      EXPECT_EQ(parsed.entries[i].uidl, entries[i].uidl);
    }
  }
}

TEST(UidlRecord, RandomBytesNeverCrash) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> len(0, 300), byte(0, 255);
  for (int round = 0; round < 2000; ++round) {
    std::string text = round % 2 ? "popbox-uidls 1\n" : "";
    int n = len(rng);
    for (int i = 0; i < n; ++i) {
      text += static_cast<char>(round % 3 ? byte(rng) : "u %0A1 \nclosed"[byte(rng) % 13]);
    }
    auto parsed = parse_recorded_uidls(text);
    for (const auto& e : parsed.entries) {
      // Whatever survives parsing formats back to the same line.
      EXPECT_EQ(parse_recorded_uidls(format_recorded_uidl(e.base, e.uidl)).entries.size(), 1u);
    }
  }
}

TEST(UidlRecord, ForeignHeaderStillYieldsValidLines) {
  auto parsed = parse_recorded_uidls("something else\nu a b\n");
  EXPECT_EQ(parsed.bad_lines, 1u);
  ASSERT_EQ(parsed.entries.size(), 1u);
}

std::vector<UidlCandidate> candidates(std::initializer_list<UidlCandidate> list) {
  return list;
}

TEST(UidlAssign, PrecedenceRecordedThenAdoptedThenName) {
  auto c = candidates({{"a,S=1", "rec-a", "dovecot-a", UidlSource::dovecot},
                       {"b,S=1", "", "dovecot-b", UidlSource::dovecot},
                       {"c,S=1", "", "UID3-7", UidlSource::courier},
                       {"d,S=1", "", "x-d", UidlSource::x_uidl},
                       {"e,S=1", "", "", UidlSource::name}});
  auto open = assign_uidls(c, true);
  EXPECT_EQ(open.uidls, (std::vector<std::string>{"rec-a", "dovecot-b", "UID3-7", "x-d", "e"}));
  EXPECT_EQ(open.sources,
            (std::vector<UidlSource>{UidlSource::recorded, UidlSource::dovecot, UidlSource::courier,
                                     UidlSource::x_uidl, UidlSource::name}));
  EXPECT_EQ(open.to_record, (std::vector<std::size_t>{1, 2, 3}));
  // Adoption closed: earlier servers no longer count.
  auto closed = assign_uidls(c, false);
  EXPECT_EQ(closed.uidls, (std::vector<std::string>{"rec-a", "b", "c", "d", "e"}));
  EXPECT_TRUE(closed.to_record.empty());
}

TEST(UidlAssign, InvalidAdoptedValuesFallBackToTheName) {
  const std::string too_long(71, 'y'), longest(70, 'z');
  auto c = candidates({{"a", "", "has space", UidlSource::x_uidl},
                       {"b", "", too_long, UidlSource::dovecot},
                       {"c", "", "caf\xc3\xa9", UidlSource::courier},
                       {"d", "", longest, UidlSource::dovecot}});
  auto out = assign_uidls(c, true);
  EXPECT_EQ(out.uidls, (std::vector<std::string>{"a", "b", "c", std::string(70, 'z')}));
  EXPECT_EQ(out.rejected, (std::vector<bool>{true, true, true, false}));
  EXPECT_EQ(out.to_record, (std::vector<std::size_t>{3}));
}

TEST(UidlAssign, AdoptedValueEqualToTheNameNeedsNoRecord) {
  auto out = assign_uidls(candidates({{"m.host,S=5", "", "m.host", UidlSource::dovecot}}), true);
  EXPECT_EQ(out.uidls[0], "m.host");
  EXPECT_TRUE(out.to_record.empty());
}

TEST(UidlAssign, UniquenessFavoursRecordedThenEarlierMessages) {
  // "dup" is recorded for the last message: it keeps it; the others (adopted
  // duplicates and a name that collides) get suffixes in session order.
  auto c = candidates({{"n1", "", "dup", UidlSource::dovecot},
                       {"dup,S=3", "", "", UidlSource::name},
                       {"n3", "", "dup", UidlSource::x_uidl},
                       {"n4", "dup", "", UidlSource::name}});
  auto out = assign_uidls(c, true);
  EXPECT_EQ(out.uidls, (std::vector<std::string>{"dup-2", "dup-3", "dup-4", "dup"}));
  EXPECT_EQ(out.renamed, (std::vector<bool>{true, true, true, false}));
  EXPECT_EQ(out.to_record, (std::vector<std::size_t>{0, 1, 2}));
}

}  // namespace
}  // namespace popbox::store::detail
