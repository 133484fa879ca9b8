#include <gtest/gtest.h>

#include <string>

#include "core/log.hpp"

using popbox::core::log_escape;

TEST(LogEscape, TableOfClientSuppliedValues) {
  struct Case {
    std::string in, want;
  };
  const Case cases[] = {
      {"alice", "alice"},
      {"bob@example.com", "bob@example.com"},
      {"", ""},
      {"a\x1b"
       "b\xff",
       "a\\x1bb\\xff"},
      {"a b", "a\\x20b"},
      {"x\"y", "x\\x22y"},
      {"user=root", "user\\x3droot"},
      {"back\\slash", "back\\x5cslash"},
      {"line\r\nevent=login", "line\\x0d\\x0aevent\\x3dlogin"},
      {std::string("nul\0", 4), "nul\\x00"},
      {"del\x7f", "del\\x7f"},
      {"\xc3\xa9t\xc3\xa9", "\\xc3\\xa9t\\xc3\\xa9"},
      {"!~<>@+-_.", "!~<>@+-_."},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(log_escape(c.in), c.want) << ::testing::PrintToString(c.in);
  }
}

TEST(LogEscape, EveryByteIsPrintableAndReversible) {
  for (int b = 0; b < 256; ++b) {
    std::string in(1, static_cast<char>(b));
    std::string out = log_escape(in);
    for (char c : out) {
      ASSERT_TRUE(c > 0x20 && c < 0x7f && c != '"' && c != '=') << b;
    }
    // Reading `\xNN` back gives the byte; anything else is the byte itself.
    if (out.size() == 4) {
      ASSERT_EQ(out.substr(0, 2), "\\x");
      ASSERT_EQ(std::stoi(out.substr(2), nullptr, 16), b);
    } else {
      ASSERT_EQ(out, in);
    }
  }
}
