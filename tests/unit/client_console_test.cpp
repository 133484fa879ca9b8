// Server text on the terminal: control bytes never reach it raw.
#include <gtest/gtest.h>

#include "client/console.hpp"

namespace popbox::client {
namespace {

using namespace std::string_literals;

TEST(TerminalSafe, PlainTextUnchanged) {
  EXPECT_EQ(terminal_safe("-ERR [IN-USE] locked\tnow"), "-ERR [IN-USE] locked\tnow");
  EXPECT_EQ(terminal_safe("Grüße 日本 😀"), "Grüße 日本 😀");
  EXPECT_EQ(terminal_safe(""), "");
}

TEST(TerminalSafe, EscapesControlBytes) {
  EXPECT_EQ(terminal_safe("-ERR \x1b]0;owned\x07\x1b[2J"), "-ERR \\x1b]0;owned\\x07\\x1b[2J");
  EXPECT_EQ(terminal_safe("a\rb\x7f"
                          "c\0d"s),
            "a\\x0db\\x7fc\\x00d");
  EXPECT_EQ(terminal_safe("back\\slash"), "back\\\\slash");
}

TEST(TerminalSafe, EscapesC1AndInvalidUtf8) {
  EXPECT_EQ(terminal_safe("\x9b"
                          "31m"),
            "\\x9b31m");  // 8-bit CSI
  EXPECT_EQ(terminal_safe("\xc2\x9b"
                          "31m"),
            "\\xc2\\x9b31m");                                   // U+009B as UTF-8
  EXPECT_EQ(terminal_safe("\xc0\xaf"), "\\xc0\\xaf");           // overlong
  EXPECT_EQ(terminal_safe("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // surrogate
  EXPECT_EQ(terminal_safe("\xe2\x82"), "\\xe2\\x82");           // cut short
  EXPECT_EQ(terminal_safe("\xf5\x80\x80\x80"), "\\xf5\\x80\\x80\\x80");
}

}  // namespace
}  // namespace popbox::client
