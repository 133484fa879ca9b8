// The index file format: round trips, and garbage of every kind is refused
// without crashing (the file lives where the mail user can write).
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "store/maildir_index.hpp"

namespace popbox::store::detail {
namespace {

bool same(const std::vector<IndexEntry>& a, const std::vector<IndexEntry>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].base != b[i].base || a[i].file_size != b[i].file_size ||
        a[i].mtime_ns != b[i].mtime_ns || a[i].crlf_size != b[i].crlf_size) {
      return false;
    }
  }
  return true;
}

std::vector<IndexEntry> sample() {
  return {
      {"1700000000.M1P2.host,S=10,W=12", 10, 1'700'000'000'123'456'789, 12},
      {"plain", 0, 0, 0},
      {"with space%and\npercent\x7f\x01", 5, -1'000, 7},
      {"caf\xc3\xa9", 100, 42, 202},
  };
}

TEST(Index, RoundTrip) {
  auto entries = sample();
  std::string text = format_index(entries);
  auto parsed = parse_index(text);
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(same(*parsed, entries));
  EXPECT_EQ(text.find("with space"), std::string::npos) << "space must be escaped";
  EXPECT_NE(text.find("with%20space%25and%0Apercent%7F%01"), std::string::npos);
}

TEST(Index, EmptyRoundTrip) {
  auto parsed = parse_index(format_index({}));
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->empty());
}

TEST(Index, RefusesEveryTruncation) {
  std::string text = format_index(sample());
  for (std::size_t len = 0; len < text.size(); ++len) {
    EXPECT_FALSE(parse_index(text.substr(0, len))) << "length " << len;
  }
}

TEST(Index, RefusesTrailingBytes) {
  std::string text = format_index(sample());
  EXPECT_FALSE(parse_index(text + "x"));
  EXPECT_FALSE(parse_index(text + "\n"));
  EXPECT_FALSE(parse_index(text + text));
}

TEST(Index, ByteFlipsNeverGiveWrongData) {
  auto entries = sample();
  std::string text = format_index(entries);
  for (std::size_t i = 0; i < text.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = text;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      auto parsed = parse_index(bad);
      // Only a change the checksum cannot see (the case of a hex digit in
      // the trailer) may parse, and then it must mean the same thing.
      if (parsed) {
        EXPECT_TRUE(same(*parsed, entries)) << "offset " << i << " bit " << bit;
      }
    }
  }
}

TEST(Index, RefusesForeignAndOtherVersions) {
  EXPECT_FALSE(parse_index(""));
  EXPECT_FALSE(parse_index("\n"));
  EXPECT_FALSE(parse_index("popbox-index 1\n"));
  EXPECT_FALSE(parse_index("popbox-index 1\nend 0\n"));
  std::string v2 = format_index(sample());
  v2[13] = '2';
  EXPECT_FALSE(parse_index(v2));
  EXPECT_FALSE(parse_index("3 1 2 dovecot-uidlist\n"));
}

// Builds an index text with a valid checksum around hand-written lines, so
// the per-line checks are reached.
std::string with_trailer(const std::string& lines, std::size_t count) {
  std::string body = "popbox-index 1\n" + lines;
  // FNV-1a 64, as the format defines; invalid lines cannot go through
  // format_index.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : body) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return body + "end " + std::to_string(count) + " " + hex + "\n";
}

TEST(Index, ChecksumHelperMatchesFormat) {
  std::string lines = "3 7 4 abc\n";
  auto parsed = parse_index(with_trailer(lines, 1));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(with_trailer(lines, 1), format_index(*parsed));
}

TEST(Index, RefusesBadLinesEvenWithValidChecksum) {
  for (const char* lines : {
           "3 7 2 abc\n",      // RETR size below the file size
           "3 7 9 abc\n",      // above 2 * size + 2
           "3 7 4 \n",         // empty base
           "3 7 4 .hidden\n",  // dotfile
           "3 7 4 a:2,S\n",    // info part in a base
           "3 7 4 a/b\n",      // slash
           "3 7 4 a b\n",      // raw space
           "3 7 4 a%20\n",     // an escaped space: the one valid line here
           "3 7 4 a%2x\n",     // bad escape
           "3 7 4 a%41\n",     // escape of a byte that needs none
           "3 7 4 a%2\n",      // cut escape
           "-3 7 4 abc\n",     // negative size
           "3 7 4\n",          // missing base
           "3  7 4 abc\n",     // double space
           "+3 7 4 abc\n",
           "3 x 4 abc\n",
           "99999999999999999999999 7 4 abc\n",
       }) {
    std::string text = with_trailer(lines, 1);
    bool expect_ok = std::string(lines) == "3 7 4 a%20\n";
    EXPECT_EQ(static_cast<bool>(parse_index(text)), expect_ok) << lines;
  }
  EXPECT_FALSE(parse_index(with_trailer("3 7 4 abc\n", 2)));  // count mismatch
  // Duplicates parse; MaildirMailbox skips all but the first (tested there).
  EXPECT_TRUE(parse_index(with_trailer("3 7 4 abc\n3 7 4 abc\n", 2)));
  EXPECT_FALSE(parse_index(with_trailer("3 7 4 abc\n", 0)));
  EXPECT_FALSE(parse_index(with_trailer("", 1'000'000'000'000)));
}

TEST(Index, RandomGarbageNeverCrashes) {
  std::mt19937 rng(12345);
  std::string valid = format_index(sample());
  for (int round = 0; round < 5000; ++round) {
    std::string text;
    std::size_t len = rng() % 300;
    if (round % 3 == 0) text = "popbox-index 1\n";  // get past the header check
    if (round % 3 == 1) text = valid.substr(0, rng() % valid.size());
    for (std::size_t i = 0; i < len; ++i) {
      // Mostly characters of the format, so lines get parsed far.
      static constexpr char alphabet[] = "0123456789 \n%-abcdefABend:/.";
      text += round % 2 ? static_cast<char>(rng()) : alphabet[rng() % (sizeof alphabet - 1)];
    }
    auto parsed = parse_index(text);
    if (parsed) {
      // Whatever parses must survive a round trip unchanged.
      EXPECT_EQ(format_index(*parsed), text);
    }
  }
}

}  // namespace
}  // namespace popbox::store::detail
