#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/limits.hpp"
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

TEST(LineReader, FreesTheBufferOfABurstOnceDrained) {
  using popbox::core::LineReader;
  LineReader reader(popbox::limits::max_line);
  std::string burst;
  while (burst.size() < 20 * popbox::limits::retained_buffer) burst += "CAPA\r\n";
  reader.feed(burst);
  std::string_view line;
  std::size_t lines = 0;
  while (reader.next(line) == LineReader::Result::line) {
    EXPECT_EQ(line, "CAPA");
    ++lines;
  }
  EXPECT_EQ(lines, burst.size() / 6);
  EXPECT_EQ(reader.buffered(), 0u);
  EXPECT_LE(reader.capacity(), std::string().capacity());
  // A partial line is kept, and still completes after the burst.
  reader.feed(burst + "NO");
  while (reader.next(line) == LineReader::Result::line) {
  }
  EXPECT_EQ(reader.buffered_data(), "NO");
  reader.feed("OP\r\n");
  ASSERT_EQ(reader.next(line), LineReader::Result::line);
  EXPECT_EQ(line, "NOOP");
  EXPECT_EQ(reader.next(line), LineReader::Result::need_more);
  EXPECT_LE(reader.capacity(), std::string().capacity());
}

TEST(LineReader, HoldsNoMemoryOnceASingleCommandIsTaken) {
  using popbox::core::LineReader;
  LineReader reader(popbox::limits::max_line);
  std::string_view line;
  reader.feed("PASS a-rather-long-password-that-leaves-the-small-string\r\n");
  ASSERT_EQ(reader.next(line), LineReader::Result::line);
  EXPECT_EQ(line, "PASS a-rather-long-password-that-leaves-the-small-string");
  EXPECT_EQ(reader.next(line), LineReader::Result::need_more);
  EXPECT_LE(reader.capacity(), std::string().capacity());
}
