// Dovecot pop3_uidl_format emulation: the expansions Dovecot 2.3's
// var_expand gives (checked against a live dovecot-pop3d for the default).
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "store/uidl_format.hpp"

namespace popbox::store {
namespace {

DovecotUidlVars vars(std::uint32_t uid, std::uint32_t uidvalidity,
                     std::string_view filename = "1700000000.M1P2.host,S=19",
                     std::string_view guid = "") {
  DovecotUidlVars v;
  v.uid = uid;
  v.uidvalidity = uidvalidity;
  v.filename = filename;
  v.guid = guid.empty() ? filename : guid;
  return v;
}

TEST(UidlFormat, DovecotDefaultIsLowercaseZeroPaddedHex) {
  // Seen from dovecot-pop3d 2.3.19: V1795447793 -> "...6b045bf1".
  UidlFormat f;
  EXPECT_EQ(f.text(), "%08Xu%08Xv");
  EXPECT_EQ(f.expand(vars(1, 1795447793)), "000000016b045bf1");
  EXPECT_EQ(f.expand(vars(0x1234abcd, 1)), "1234abcd00000001");
  EXPECT_EQ(f.expand(vars(UINT32_MAX, UINT32_MAX)), "ffffffffffffffff");
}

TEST(UidlFormat, PopboxMeansDovecotDefault) {
  UidlFormat f("popbox");
  EXPECT_EQ(f.text(), "popbox");
  EXPECT_EQ(f.expand(vars(3, 0x6b045bf1)), "000000036b045bf1");
}

struct Case {
  const char* format;
  const char* expected;
};

class UidlFormatTable : public ::testing::TestWithParam<Case> {};

TEST_P(UidlFormatTable, Expands) {
  const Case& c = GetParam();
  UidlFormat f(c.format);
  EXPECT_EQ(f.expand(vars(42, 1700000000, "1700000000.M1P2.host,S=19", "guid-Abc")), c.expected)
      << c.format;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, UidlFormatTable,
    ::testing::Values(Case{"%u", "42"}, Case{"%v", "1700000000"}, Case{"%u.%v", "42.1700000000"},
                      Case{"%Xu", "2a"}, Case{"%08Xu", "0000002a"}, Case{"%04u", "0042"},
                      Case{"%1u", "4"},  // width without 0 truncates
                      Case{"%0u", "42"}, Case{"%f", "1700000000.M1P2.host,S=19"},
                      Case{"%g", "guid-Abc"}, Case{"%Lg", "guid-abc"}, Case{"%Ug", "GUID-ABC"},
                      Case{"%{uid}-%{uidvalidity}", "42-1700000000"},
                      Case{"%{filename}", "1700000000.M1P2.host,S=19"}, Case{"%{guid}", "guid-Abc"},
                      Case{"%08X{uid}", "0000002a"}, Case{"%%u", "%u"}, Case{"UID%u", "UID42"},
                      Case{"%Mu", "a1d0c6e83f027327d8461063f4ac58a6"},  // MD5("42")
                      Case{"%Ru", "24"}, Case{"%3.4f", "0000"},         // offset 3, width 4
                      Case{"%-2.2v", "00"}, Case{"%-4.1f", "S"},
                      Case{"%.-3f", "1700000000.M1P2.host,S"},
                      Case{"%Xf", "0"},  // X of a non-number is 0, as in Dovecot
                      Case{"%X%", "0"}, Case{"x%Tgy", "xguid-Abcy"}, Case{"%Eg", "guid-Abc"}));

TEST(UidlFormat, EscapeModifier) {
  UidlFormat f("%Ef");
  EXPECT_EQ(f.expand(vars(1, 1, "a\"b\\c'd")), "a\\\"b\\\\c\\'d");
}

TEST(UidlFormat, ZeroPaddingNeverTruncates) {
  UidlFormat f("%02Xv");
  EXPECT_EQ(f.expand(vars(1, 0xabcdef)), "abcdef");
}

TEST(UidlFormat, RejectsWhatCannotBeEmulated) {
  for (const char* bad : {"", "%m", "%{md5}", "%Hu", "%Nu", "%Du", "%q", "%{pid}", "%{uid", "abc%",
                          "%08X", "%{hostname}"}) {
    EXPECT_THROW(UidlFormat{bad}, std::invalid_argument) << bad;
  }
}

TEST(UidlFormat, ErrorNamesTheFormat) {
  try {
    UidlFormat f("%08Xm");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("%08Xm"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace popbox::store
