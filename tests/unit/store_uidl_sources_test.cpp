// Parsing dovecot-uidlist and courierpop3dsizelist: good files, every
// truncation, garbage lines, and random bytes.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "store/uidl_sources.hpp"

namespace popbox::store::detail {
namespace {

// Written by dovecot-pop3d 2.3.19 (W fields), plus P and G fields as a
// migration (dsync, courier-dovecot-migrate.pl) or pop3_save_uidl leaves them.
const std::string dovecot_v3 =
    "3 V1795447793 N6 G7e3fa312f15b046b9206000083ecc375\n"
    "1 W22 :170000000.M0P1.host,S=19\n"
    "2 W22 :170000001.M1P1.host,S=19:2,S\n"
    "3 P :170000002.M2P1.host,S=19\n"
    "4 PUID7-1120000000 W30 :170000003.M3P1.host\n"
    "5 G0123abcd :170000004.M4P1.host\n";

UidlFormat default_format;

std::string uidl_for(const DovecotUidlist& list, std::size_t i) {
  return dovecot_uidl(list, list.records.at(i), default_format);
}

TEST(DovecotUidlist, ParsesVersion3) {
  auto list = parse_dovecot_uidlist(dovecot_v3);
  ASSERT_TRUE(list);
  EXPECT_EQ(list->version, 3u);
  EXPECT_EQ(list->uidvalidity, 1795447793u);
  EXPECT_EQ(list->next_uid, 6u);
  EXPECT_EQ(list->bad_lines, 0u);
  ASSERT_EQ(list->records.size(), 5u);
  EXPECT_EQ(list->records[0].uid, 1u);
  EXPECT_EQ(list->records[0].base, "170000000.M0P1.host,S=19");
  EXPECT_EQ(list->records[1].base, "170000001.M1P1.host,S=19");  // flags dropped
  EXPECT_EQ(uidl_for(*list, 0), "000000016b045bf1");
  EXPECT_EQ(uidl_for(*list, 1), "000000026b045bf1");
  EXPECT_EQ(uidl_for(*list, 2), "170000002.M2P1.host,S=19");  // empty P: the base name
  EXPECT_EQ(uidl_for(*list, 3), "UID7-1120000000");           // saved POP3 UIDL
  EXPECT_EQ(uidl_for(*list, 4), "000000056b045bf1");          // G does not matter here
  EXPECT_EQ(dovecot_uidl(*list, list->records[4], UidlFormat("%g")), "0123abcd");
  EXPECT_EQ(dovecot_uidl(*list, list->records[0], UidlFormat("%g")), "170000000.M0P1.host,S=19");
  EXPECT_EQ(dovecot_uidl(*list, list->records[0], UidlFormat("%f")), "170000000.M0P1.host,S=19");
}

TEST(DovecotUidlist, ParsesVersion1) {
  auto list = parse_dovecot_uidlist("1 1120000000 3\n1 a.host:2,S\n2 b.host\n");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->version, 1u);
  ASSERT_EQ(list->records.size(), 2u);
  EXPECT_EQ(list->records[0].base, "a.host");
  EXPECT_EQ(uidl_for(*list, 1), "0000000242c1d800");
}

TEST(DovecotUidlist, RefusesUnusableHeaders) {
  for (const char* bad :
       {"", "3", "3 V1 N2", "2 1 2\n", "3 N5\n", "3 V0 N5\n", "3 V12 N0\n", "3 Vx N5\n",
        "3 V99999999999 N5\n", "1 5\n", "1 0 5\n", "x V1 N1\n", "31 V1 N1\n"}) {
    EXPECT_FALSE(parse_dovecot_uidlist(bad)) << bad;
  }
  EXPECT_TRUE(parse_dovecot_uidlist("3 V1 N1\n"));
  EXPECT_TRUE(parse_dovecot_uidlist("3 V1 N1 Xunknown G00\r\n"));
}

TEST(DovecotUidlist, SkipsGarbageLinesAndKeepsTheRest) {
  std::string text =
      "3 V10 N9\n"
      "1 :good.one\n"
      "\n"
      "garbage\n"
      "0 :uid.zero\n"
      "4294967295 :uid.max\n"
      "2 W5\n"                // no file name
      "3 :dir/slash\n"        // '/' is never in a name
      "4 :.dotfile\n"         // not a message
      "5 P:x :not:a:field\n"  // P value with ':' is still a field
      "6:colon.after.uid\n"
      "7 lowercase :kept.anyway\n"
      "8 :good.two\n"
      "9 :torn.last.line";
  auto list = parse_dovecot_uidlist(text);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->records.size(), 4u);
  EXPECT_EQ(list->records[0].base, "good.one");
  EXPECT_EQ(list->records[1].base, "not");
  EXPECT_EQ(*list->records[1].pop3_uidl, ":x");
  EXPECT_EQ(list->records[2].base, "kept.anyway");
  EXPECT_EQ(list->records[3].base, "good.two");
  EXPECT_EQ(list->bad_lines, 9u);
}

TEST(DovecotUidlist, EveryTruncationIsSafe) {
  for (std::size_t n = 0; n <= dovecot_v3.size(); ++n) {
    auto list = parse_dovecot_uidlist(dovecot_v3.substr(0, n));
    if (!list) continue;
    // Only whole lines count: a record is never taken from a cut line.
    std::size_t whole = 0;
    for (std::size_t i = 0; i < n; ++i) whole += dovecot_v3[i] == '\n';
    EXPECT_EQ(list->records.size(), whole - 1) << n;
    for (const auto& r : list->records) EXPECT_NE(dovecot_v3.find(":" + r.base), std::string::npos);
  }
}

TEST(DovecotUidlist, RandomBytesNeverCrash) {
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    std::string text = round % 2 ? "3 V5 N5\n" : "";
    std::uniform_int_distribution<int> len(0, 200), byte(0, 255);
    int n = len(rng);
    for (int i = 0; i < n; ++i) {
      text += static_cast<char>(round % 3 ? byte(rng) : " :PGV0123456789\nab"[byte(rng) % 18]);
    }
    auto list = parse_dovecot_uidlist(text);
    if (list) {
      for (const auto& r : list->records) (void)dovecot_uidl(*list, r, default_format);
    }
  }
}

// Format 3 as Courier 4.x+ writes it, and a format 2 line.
const std::string courier_v3 =
    "/3 5 1120000000\n"
    "1120000000.M1P1.host:2,S 120 1:1120000000:0\n"
    "1120000001.M2P1.host 3000 2:1120000000:1\n"
    "name with spaces:2, 5 3:1120000005\n"
    "1120000003.M4P1.host 7 4:0:0\n";

TEST(CourierSizelist, ParsesFormats2And3) {
  auto list = parse_courier_sizelist(courier_v3);
  ASSERT_TRUE(list);
  EXPECT_EQ(list->bad_lines, 0u);
  ASSERT_EQ(list->records.size(), 4u);
  EXPECT_EQ(list->records[0].base, "1120000000.M1P1.host");
  EXPECT_EQ(list->records[0].uidl, "UID1-1120000000");
  EXPECT_EQ(list->records[1].uidl, "UID2-1120000000");
  EXPECT_EQ(list->records[2].base, "name with spaces");
  EXPECT_EQ(list->records[2].uidl, "UID3-1120000005");
  EXPECT_EQ(list->records[3].uidl, "UID4");  // no UIDVALIDITY: Courier printed UID<n>
  EXPECT_TRUE(parse_courier_sizelist("/2 1\n"));
}

TEST(CourierSizelist, RefusesOldAndForeignFiles) {
  for (const char* bad :
       {"", "/3 5 6", "/1 5 6\n", "/4 5 6\n", "3 5 6\n", "/3\n", "/3 x\n", "msg.host 120\n"}) {
    EXPECT_FALSE(parse_courier_sizelist(bad)) << bad;
  }
}

TEST(CourierSizelist, SkipsGarbageLines) {
  auto list = parse_courier_sizelist(
      "/3 9 100\n"
      "ok.one 1 1:100:0\n"
      "noparts\n"
      "two parts\n"
      "bad.size x 2:100\n"
      "bad.uid 5 x:100\n"
      "no.uidv 5 3\n"
      "zero.uid 5 0:100\n"
      "bad.tail 5 4:100:0:1\n"
      " 5 5:100\n"
      ".dot 5 6:100\n"
      "ok.two 1 7:100\n"
      "torn 1 8:10");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->records.size(), 2u);
  EXPECT_EQ(list->records[1].uidl, "UID7-100");
  EXPECT_EQ(list->bad_lines, 10u);
}

TEST(CourierSizelist, EveryTruncationIsSafe) {
  for (std::size_t n = 0; n <= courier_v3.size(); ++n) {
    auto list = parse_courier_sizelist(courier_v3.substr(0, n));
    if (!list) continue;
    std::size_t whole = 0;
    for (std::size_t i = 0; i < n; ++i) whole += courier_v3[i] == '\n';
    EXPECT_EQ(list->records.size(), whole - 1) << n;
  }
}

TEST(CourierSizelist, RandomBytesNeverCrash) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> len(0, 200), byte(0, 255);
  for (int round = 0; round < 2000; ++round) {
    std::string text = round % 2 ? "/3 5 9\n" : "";
    int n = len(rng);
    for (int i = 0; i < n; ++i) {
      text += static_cast<char>(round % 3 ? byte(rng) : " :/0123456789\nab"[byte(rng) % 16]);
    }
    auto list = parse_courier_sizelist(text);
    if (!list) continue;
    for (const auto& r : list->records) EXPECT_EQ(r.uidl.rfind("UID", 0), 0u);
  }
}

}  // namespace
}  // namespace popbox::store::detail
