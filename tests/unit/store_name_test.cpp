// Maildir names: info parsing, the seen flag, and the UIDL rules.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "store/maildir_name.hpp"

namespace popbox::store::detail {
namespace {

TEST(MaildirName, BaseOf) {
  EXPECT_EQ(base_of("1234.M5P6.host"), "1234.M5P6.host");
  EXPECT_EQ(base_of("1234.M5P6.host,S=10:2,FS"), "1234.M5P6.host,S=10");
  EXPECT_EQ(base_of("a:2,S:junk"), "a");
  EXPECT_EQ(base_of(":2,S"), "");
}

// Two deliveries in one mtime tick: the microseconds are not zero-padded,
// so "M99999" (earlier) must not sort after "M100000".
TEST(MaildirName, DeliveredBeforeComparesNumbersByValue) {
  EXPECT_TRUE(delivered_before("1700000000.M99999P7Q1.h", "1700000000.M100000P7Q2.h"));
  EXPECT_FALSE(delivered_before("1700000000.M100000P7Q2.h", "1700000000.M99999P7Q1.h"));
  EXPECT_TRUE(delivered_before("1700000000.M5P7Q9.h", "1700000000.M5P7Q10.h"));
  EXPECT_TRUE(delivered_before("999999999.M1P1.h", "1000000000.M1P1.h"));
  EXPECT_TRUE(delivered_before("1.M1P1.a", "1.M1P1.b"));
  EXPECT_TRUE(delivered_before("1.M1", "1.M1P1"));
  // Equal by value, other padding: still a strict order, either way once.
  EXPECT_NE(delivered_before("1.M01", "1.M1"), delivered_before("1.M1", "1.M01"));
  EXPECT_FALSE(delivered_before("1.M1P1.h", "1.M1P1.h"));
  std::vector<std::string> names = {"5.M100000P1.h", "5.M99999P1.h", "5.M7P1.h", "4.M999999P1.h"};
  std::sort(names.begin(), names.end(),
            [](const std::string& a, const std::string& b) { return delivered_before(a, b); });
  EXPECT_EQ(names, (std::vector<std::string>{"4.M999999P1.h", "5.M7P1.h", "5.M99999P1.h",
                                             "5.M100000P1.h"}));
}

TEST(MaildirName, Ignored) {
  EXPECT_TRUE(is_ignored_name(""));
  EXPECT_TRUE(is_ignored_name("."));
  EXPECT_TRUE(is_ignored_name(".."));
  EXPECT_TRUE(is_ignored_name(".nfs000123"));
  EXPECT_FALSE(is_ignored_name("1234.host"));
}

TEST(MaildirName, SeenName) {
  const std::map<std::string, std::string> cases = {
      {"abc", "abc:2,S"},
      {"abc,S=10,W=12", "abc,S=10,W=12:2,S"},
      {"abc:2,", "abc:2,S"},
      {"abc:2,S", "abc:2,S"},
      {"abc:2,F", "abc:2,FS"},
      {"abc:2,T", "abc:2,ST"},
      {"abc:2,RT", "abc:2,RST"},
      {"abc:2,DFPRST", "abc:2,DFPRST"},
      {"abc:2,ab", "abc:2,Sab"},  // Dovecot keywords are lowercase: after 'S'
      {"abc:2,TF", "abc:2,FST"},  // unsorted input comes out sorted
      {"abc:1,xyz", ""},          // unknown info: leave alone
      {"abc:", ""},
  };
  for (const auto& [in, out] : cases) EXPECT_EQ(seen_name(in), out) << in;
}

TEST(Uidl, StripsSizeHints) {
  EXPECT_EQ(uidl_of_base("1700000000.M123P45.mail"), "1700000000.M123P45.mail");
  EXPECT_EQ(uidl_of_base("1700000000.M123P45.mail,S=1234"), "1700000000.M123P45.mail");
  EXPECT_EQ(uidl_of_base("1700000000.M123P45.mail,S=1234,W=1260"), "1700000000.M123P45.mail");
  EXPECT_EQ(uidl_of_base("1700000000.M123P45.mail,W=1260,S=1234"), "1700000000.M123P45.mail");
  EXPECT_EQ(uidl_of_base("a,X=5,S=1"), "a,X=5");
  // Not a size hint: kept as it is.
  EXPECT_EQ(uidl_of_base("a,S="), "a,S=");
  EXPECT_EQ(uidl_of_base("a,S=12x"), "a,S=12x");
  EXPECT_EQ(uidl_of_base("a,s=12"), "a,s=12");
  EXPECT_EQ(uidl_of_base("a,,S=1"), "a,");
  // The first field is the unique part even when it looks like a hint.
  EXPECT_EQ(uidl_of_base("S=12,W=3"), "S=12");
}

TEST(Uidl, LengthLimit) {
  std::string seventy(70, 'x');
  EXPECT_EQ(uidl_of_base(seventy), seventy);
  EXPECT_EQ(uidl_of_base(seventy + ",S=99999,W=100000"), seventy);
  std::string seventy_one(71, 'x');
  EXPECT_EQ(uidl_of_base(seventy_one), hash_uidl(seventy_one));
  // The hash is of the whole BASE, hints included.
  EXPECT_EQ(uidl_of_base(seventy_one + ",S=1"), hash_uidl(seventy_one + ",S=1"));
}

TEST(Uidl, CharacterSet) {
  for (std::string bad :
       {std::string("with space"), std::string("tab\there"), std::string("caf\xc3\xa9"),
        std::string("del\x7f"), std::string("nul\0x", 5), std::string("")}) {
    EXPECT_EQ(uidl_of_base(bad), hash_uidl(bad));
  }
  EXPECT_EQ(uidl_of_base("!~\"#"), "!~\"#");
  // Stripping can leave nothing printable-looking, but never empty: the
  // first field always stays.
  EXPECT_EQ(uidl_of_base(",S=1"), hash_uidl(",S=1"));
}

TEST(Uidl, HashForm) {
  // Python: "H" + hashlib.sha256(b"hello").hexdigest()[:40]
  EXPECT_EQ(hash_uidl("hello"), "H2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c");
  std::string h = hash_uidl(std::string(500, 'z'));
  ASSERT_EQ(h.size(), 41u);
  EXPECT_EQ(h[0], 'H');
  EXPECT_TRUE(std::all_of(h.begin() + 1, h.end(),
                          [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }));
}

std::map<std::string, std::string> unique_map(std::vector<std::string> base_strings) {
  std::vector<std::string_view> bases(base_strings.begin(), base_strings.end());
  std::vector<std::string> uidls;
  for (auto b : bases) uidls.push_back(uidl_of_base(b));
  make_uidls_unique(bases, uidls);
  std::map<std::string, std::string> out;
  for (std::size_t i = 0; i < bases.size(); ++i) out[base_strings[i]] = uidls[i];
  return out;
}

TEST(Uidl, UniqueLeavesDistinctAlone) {
  auto m = unique_map({"a", "b,S=1", "c"});
  EXPECT_EQ(m["a"], "a");
  EXPECT_EQ(m["b,S=1"], "b");
  EXPECT_EQ(m["c"], "c");
}

TEST(Uidl, UniqueDisambiguatesDeterministically) {
  std::vector<std::string> bases = {"abc,S=2", "abc-2", "abc,S=1", "abc,W=7", "zzz"};
  auto expected = unique_map(bases);
  EXPECT_EQ(expected["abc,S=1"], "abc");  // smallest base keeps the plain UIDL
  EXPECT_EQ(expected["abc-2"], "abc-2");  // a plain UIDL is never taken by a suffix
  EXPECT_EQ(expected["abc,S=2"], "abc-3");
  EXPECT_EQ(expected["abc,W=7"], "abc-4");
  EXPECT_EQ(expected["zzz"], "zzz");
  std::sort(bases.begin(), bases.end());
  do {
    EXPECT_EQ(unique_map(bases), expected);
  } while (std::next_permutation(bases.begin(), bases.end()));
}

TEST(Uidl, UniqueFallsBackToHashWhenSuffixTooLong) {
  std::string seventy(70, 'q');
  auto m = unique_map({seventy + ",S=1", seventy + ",S=2"});
  EXPECT_EQ(m[seventy + ",S=1"], seventy);
  EXPECT_EQ(m[seventy + ",S=2"], hash_uidl(seventy + ",S=2"));
}

}  // namespace
}  // namespace popbox::store::detail
