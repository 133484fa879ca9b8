#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/line_reader.hpp"

TEST(LineReader, SplitsAtEveryOffsetAndCapsLength) {
  using popbox::core::LineReader;
  const std::string input = "USER a\r\nPASS b c\nQUIT\r\n";
  for (std::size_t cut = 0; cut <= input.size(); ++cut) {
    LineReader reader(100);
    std::vector<std::string> lines;
    std::string_view line;
    for (std::string_view part :
         {std::string_view(input).substr(0, cut), std::string_view(input).substr(cut)}) {
      reader.feed(part);
      while (reader.next(line) == LineReader::Result::line) lines.emplace_back(line);
    }
    EXPECT_EQ(lines, (std::vector<std::string>{"USER a", "PASS b c", "QUIT"})) << cut;
  }
  LineReader reader(8);
  std::string_view line;
  reader.feed("0123456789");
  EXPECT_EQ(reader.next(line), LineReader::Result::too_long);
  LineReader reader2(8);
  reader2.feed("1234567\r\n");
  EXPECT_EQ(reader2.next(line), LineReader::Result::too_long);
  LineReader reader3(8);
  reader3.feed("123456\r\nQUIT\r\n");
  EXPECT_EQ(reader3.next(line), LineReader::Result::line);
  reader3.discard();
  EXPECT_EQ(reader3.next(line), LineReader::Result::need_more);
}
