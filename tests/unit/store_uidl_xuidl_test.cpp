// X-UIDL header extraction: header part only, folded, any case, any split.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "store/unique_fd.hpp"
#include "store/x_uidl.hpp"
#include "store_test_util.hpp"

namespace popbox::store::detail {
namespace {

std::optional<std::string> x_uidl_of(std::string_view message, std::size_t block = 4096) {
  HeaderCollector h;
  for (std::size_t i = 0; i < message.size() && !h.complete(); i += block) {
    h.add(message.substr(i, block));
  }
  h.finish();
  return header_field(h.header(), "X-UIDL");
}

struct Case {
  const char* message;
  std::optional<std::string> expected;
};

class XUidlTable : public ::testing::TestWithParam<Case> {};

TEST_P(XUidlTable, Extracts) {
  const Case& c = GetParam();
  EXPECT_EQ(x_uidl_of(c.message), c.expected) << c.message;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, XUidlTable,
    ::testing::Values(Case{"X-UIDL: abc123\nSubject: x\n\nbody\n", "abc123"},
                      Case{"Subject: x\r\nX-UIDL: abc123\r\n\r\nbody\r\n", "abc123"},
                      Case{"x-uidl:abc\n\n", "abc"}, Case{"X-Uidl:   spaced  \t\n\n", "spaced"},
                      Case{"X-UIDL\t : obsolete-syntax\n\n", "obsolete-syntax"},
                      Case{"X-UIDL:\n  folded-value\n\n", "folded-value"},
                      Case{"X-UIDL: part1\n\tpart2\nNext: y\n\n", "part1\tpart2"},
                      Case{"X-UIDL: first\nX-UIDL: second\n\n", "first"},
                      Case{"Subject: x\n\nX-UIDL: in-the-body\n", std::nullopt},
                      Case{"\nX-UIDL: after-empty-header\n", std::nullopt},
                      Case{"\r\nX-UIDL: after-empty-header\n", std::nullopt},
                      Case{"X-UIDL-Other: no\nXX-UIDL: no\nX-UIDLs: no\n\n", std::nullopt},
                      Case{"Subject: X-UIDL: not-a-field-name\n\n", std::nullopt},
                      Case{"From someone Mon Jan 1\nX-UIDL: after-mbox-line\n\n",
                           "after-mbox-line"},
                      Case{"X-UIDL: header-only-message", "header-only-message"},
                      Case{"X-UIDL:\n\n", ""}, Case{"", std::nullopt}));

TEST(XUidl, SameAtEverySplit) {
  const std::string message =
      "Received: from a\r\n\tby b\r\nX-UIDL: \r\n  7f3a9c-UID\r\nSubject: s\r\n\r\nX-UIDL: no\r\n";
  for (std::size_t block = 1; block <= message.size(); ++block) {
    EXPECT_EQ(x_uidl_of(message, block), "7f3a9c-UID") << block;
  }
  for (std::size_t cut = 0; cut <= message.size(); ++cut) {
    HeaderCollector h;
    h.add(std::string_view(message).substr(0, cut));
    h.add(std::string_view(message).substr(cut));
    h.finish();
    EXPECT_EQ(header_field(h.header(), "x-uidl"), "7f3a9c-UID") << cut;
  }
}

TEST(XUidl, HugeHeaderIsCutAtWholeLines) {
  std::string message = "A: " + std::string(max_header_scan - 20, 'a') + "\n";
  message += "X-UIDL: " + std::string(100, 'z') + "\n\nbody\n";
  HeaderCollector h;
  h.add(message);
  EXPECT_TRUE(h.complete());
  EXPECT_LE(h.header().size(), max_header_scan);
  EXPECT_EQ(header_field(h.header(), "X-UIDL"), std::nullopt);  // cut line: not trusted
  // Complete lines before the cut still count.
  std::string early = "X-UIDL: early\n" + std::string(2 * max_header_scan, 'b');
  EXPECT_EQ(x_uidl_of(early), "early");
}

TEST(XUidl, ReadsFromFileWithoutFollowingSymlinks) {
  test::TempDir tmp;
  test::write_file(tmp / "m", "X-UIDL: from-file\n\nbody\n");
  UniqueFd dir(::open(tmp.path().c_str(), O_RDONLY | O_DIRECTORY));
  std::optional<std::string> out;
  ASSERT_FALSE(read_x_uidl(dir.get(), "m", out));
  EXPECT_EQ(out, "from-file");
  ::symlink((tmp / "m").c_str(), (tmp / "link").c_str());
  EXPECT_TRUE(read_x_uidl(dir.get(), "link", out));
  EXPECT_EQ(read_x_uidl(dir.get(), "missing", out), std::errc::no_such_file_or_directory);
}

}  // namespace
}  // namespace popbox::store::detail
