#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "core/log.hpp"

using popbox::core::is_journal_stream;
using popbox::core::journal_prefix;
using popbox::core::LogLevel;

TEST(JournalPrefix, SyslogPriorityPerLevel) {
  EXPECT_STREQ(journal_prefix(LogLevel::error), "<3>");
  EXPECT_STREQ(journal_prefix(LogLevel::warn), "<4>");
  EXPECT_STREQ(journal_prefix(LogLevel::info), "<6>");
  EXPECT_STREQ(journal_prefix(LogLevel::debug), "<7>");
}

TEST(JournalStream, MatchesOnlyTheExactDeviceAndInode) {
  struct Case {
    const char* env;
    bool want;
  };
  // The file under test: device 2049, inode 12345.
  const Case cases[] = {
      {"2049:12345", true},
      {"2049:12346", false},
      {"2048:12345", false},
      {nullptr, false},
      {"", false},
      {":", false},
      {"2049:", false},
      {":12345", false},
      {"2049", false},
      {"2049:12345:1", false},
      {"2049:12345 ", false},
      {" 2049:12345", false},
      {"+2049:12345", false},
      {"-2049:12345", false},
      {"0x801:12345", false},
      {"2049:12345x", false},
      {"99999999999999999999999:12345", false},  // overflows: never a match
  };
  for (const auto& c : cases) {
    EXPECT_EQ(is_journal_stream(c.env, 2049, 12345), c.want) << (c.env ? c.env : "(null)");
  }
}

TEST(JournalStream, StderrIsJournalFollowsTheEnvironment) {
  struct stat st {};
  ASSERT_EQ(::fstat(2, &st), 0);
  const std::string mine = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ::setenv("JOURNAL_STREAM", mine.c_str(), 1);
  EXPECT_TRUE(popbox::core::stderr_is_journal());
  const std::string other = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1);
  ::setenv("JOURNAL_STREAM", other.c_str(), 1);
  EXPECT_FALSE(popbox::core::stderr_is_journal());
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(popbox::core::stderr_is_journal());
}
