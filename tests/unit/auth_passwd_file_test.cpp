// Reading Dovecot passwd-files: fields, short lines, comments, bad lines.

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "auth/passwd_file.hpp"

namespace popbox::auth {
namespace {

const std::string sample = POPBOX_TEST_DATA "/auth/users.passwd";

TEST(PasswdFile, SampleFileEntries) {
  const PasswdFile f = PasswdFile::load(sample);
  std::vector<std::string> names;
  for (const PasswdEntry& e : f.entries()) names.push_back(e.user + "@" + std::to_string(e.line));
  EXPECT_EQ(names, (std::vector<std::string>{"alice@5", "bob@6", "carol@7", "dave@8", "grace@15",
                                             "heidi@16", "judy@18"}));

  const PasswdEntry* alice = f.find("alice");
  ASSERT_NE(alice, nullptr);
  EXPECT_TRUE(alice->password.starts_with("{SHA512-CRYPT}$6$lL/q2inWpw7VizQI$"));
  EXPECT_EQ(alice->uid, 1000u);
  EXPECT_EQ(alice->gid, 1000u);
  EXPECT_EQ(alice->gecos, "Alice Example");
  EXPECT_EQ(alice->home, "/home/alice");
  EXPECT_EQ(alice->shell, "/bin/false");
  // Colons after the 7th belong to the extra fields, kept verbatim.
  EXPECT_EQ(alice->extra, "userdb_quota_rule=*:storage=100M userdb_mail=maildir:~/Mail");

  const PasswdEntry* bob = f.find("bob");
  ASSERT_NE(bob, nullptr);
  EXPECT_EQ(bob->password, "{PLAIN}tanstaaf");
  EXPECT_EQ(bob->uid, std::nullopt);
  EXPECT_EQ(bob->home, "");

  const PasswdEntry* carol = f.find("carol");
  ASSERT_NE(carol, nullptr);
  EXPECT_EQ(carol->uid, 1001u);
  EXPECT_EQ(carol->gecos, "");
  EXPECT_EQ(carol->home, "/home/carol");

  const PasswdEntry* dave = f.find("dave");
  ASSERT_NE(dave, nullptr);
  EXPECT_EQ(dave->password, "$1$CgHN25Be$fdDJFRYylVdJ8p70GyJFe.");
  EXPECT_EQ(dave->uid, std::nullopt);
  EXPECT_EQ(dave->extra, "");

  EXPECT_EQ(f.find("ivan"), nullptr);
  EXPECT_EQ(f.find("erin"), nullptr);
  EXPECT_EQ(f.find("Alice"), nullptr);  // names are case-sensitive, as in Dovecot
  EXPECT_EQ(f.find(""), nullptr);
}

TEST(PasswdFile, SampleFileWarningsNameFileAndLine) {
  const PasswdFile f = PasswdFile::load(sample);
  const std::vector<std::string> want = {
      sample + ":11: empty user name",
      sample + ":12: uid is not a number",
      sample + ":13: gid is not a number",
      sample + ":14: duplicate user alice ignored (first on line 5)",
      sample + ":15: unknown password scheme NOPE: grace cannot log in",
      sample + ":16: empty password: heidi cannot log in",
      sample + ":17: no password field (expected user:password[:...])",
  };
  EXPECT_EQ(f.warnings(), want);
}

TEST(PasswdFile, DuplicateKeepsTheFirst) {
  const PasswdFile f = PasswdFile::load(sample);
  EXPECT_EQ(f.find("alice")->line, 5u);
}

TEST(PasswdFile, UnreadableFileThrowsWithName) {
  try {
    (void)PasswdFile::load("/nonexistent/popbox/users");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/popbox/users"), std::string::npos);
  }
  EXPECT_THROW((void)PasswdFile::load(POPBOX_TEST_DATA), std::runtime_error);  // a directory
}

struct Case {
  const char* text;
  const char* user;     ///< expected user of the single entry; nullptr: no entry
  const char* warning;  ///< expected single warning, nullptr for none
};

TEST(PasswdFile, TableOfLines) {
  const Case cases[] = {
      {"u:p", "u", nullptr},
      {"u:p\n", "u", nullptr},
      {"u:p\r\n", "u", nullptr},
      {"u:{PLAIN}p:", "u", nullptr},
      {"u:{PLAIN}p:1:2:g:/h:/s:a=b", "u", nullptr},
      {"u:{PLAIN}p:1:2:g:/h:/s:a=b:c=d", "u", nullptr},
      {"u:{PLAIN}p::::::", "u", nullptr},
      {"", nullptr, nullptr},
      {"\n\n\n", nullptr, nullptr},
      {" \t \n", nullptr, nullptr},
      {"# u:{PLAIN}p", nullptr, nullptr},
      {"u", nullptr, "t:1: no password field (expected user:password[:...])"},
      {":p", nullptr, "t:1: empty user name"},
      {"a b:{PLAIN}p", nullptr, "t:1: space or control character in user name"},
      {"a\tb:{PLAIN}p", nullptr, "t:1: space or control character in user name"},
      {" u:{PLAIN}p", nullptr, "t:1: space or control character in user name"},
      {"u:{PLAIN}p:abc", nullptr, "t:1: uid is not a number"},
      {"u:{PLAIN}p:1:2x", nullptr, "t:1: gid is not a number"},
      {"u:{PLAIN}p:99999999999", nullptr, "t:1: uid is not a number"},
      {"u:{PLAIN}p: 1", nullptr, "t:1: uid is not a number"},
      {"u:", "u", "t:1: empty password: u cannot log in"},
      {"u:{X}y", "u", "t:1: unknown password scheme X: u cannot log in"},
      {"u:{SHA.rot13}y", "u", "t:1: unknown password scheme SHA.ROT13: u cannot log in"},
  };
  for (const Case& c : cases) {
    const PasswdFile f = PasswdFile::parse(c.text, "t");
    if (c.user != nullptr) {
      ASSERT_EQ(f.entries().size(), 1u) << c.text;
      EXPECT_EQ(f.entries()[0].user, c.user) << c.text;
    } else {
      EXPECT_TRUE(f.entries().empty()) << c.text;
    }
    if (c.warning != nullptr) {
      EXPECT_EQ(f.warnings(), std::vector<std::string>{c.warning}) << c.text;
    } else {
      EXPECT_TRUE(f.warnings().empty()) << c.text;
    }
  }
}

TEST(PasswdFile, LongUserNameIsRejected) {
  const std::string name(256, 'a');
  const PasswdFile f = PasswdFile::parse(name + ":{PLAIN}x\n" + name.substr(1) + ":{PLAIN}x", "t");
  ASSERT_EQ(f.entries().size(), 1u);
  EXPECT_EQ(f.entries()[0].line, 2u);
  EXPECT_EQ(f.warnings(), std::vector<std::string>{"t:1: user name too long"});
}

TEST(PasswdFile, FieldsOfAShortLineAreEmpty) {
  const PasswdFile f = PasswdFile::parse("u:{PLAIN}p:7", "t");
  ASSERT_EQ(f.entries().size(), 1u);
  const PasswdEntry& e = f.entries()[0];
  EXPECT_EQ(e.password, "{PLAIN}p");
  EXPECT_EQ(e.uid, 7u);
  EXPECT_EQ(e.gid, std::nullopt);
  EXPECT_EQ(e.gecos, "");
  EXPECT_EQ(e.home, "");
  EXPECT_EQ(e.shell, "");
  EXPECT_EQ(e.extra, "");
}

TEST(PasswdFile, LineNumbersCountEveryLine) {
  const PasswdFile f =
      PasswdFile::parse("# c\n\na:{PLAIN}x\r\n\n:bad\nb:{PLAIN}y\nb:{PLAIN}z", "f");
  ASSERT_EQ(f.entries().size(), 2u);
  EXPECT_EQ(f.entries()[0].line, 3u);
  EXPECT_EQ(f.entries()[1].line, 6u);
  EXPECT_EQ(f.entries()[0].password, "{PLAIN}x");  // CR stripped
  EXPECT_EQ(f.warnings(), (std::vector<std::string>{
                              "f:5: empty user name",
                              "f:7: duplicate user b ignored (first on line 6)",
                          }));
}

TEST(PasswdFile, AnyPrefixOfTheSampleParsesWithoutCrashing) {
  // The file may be caught mid-write; every cut must parse into something sane.
  std::string text;
  {
    const PasswdFile whole = PasswdFile::load(sample);
    ASSERT_FALSE(whole.entries().empty());
  }
  FILE* fp = std::fopen(sample.c_str(), "rb");
  ASSERT_NE(fp, nullptr);
  for (int c; (c = std::fgetc(fp)) != EOF;) text.push_back(static_cast<char>(c));
  std::fclose(fp);
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    const PasswdFile f = PasswdFile::parse(std::string_view(text).substr(0, cut), "t");
    EXPECT_LE(f.entries().size(), 7u);
    for (const PasswdEntry& e : f.entries()) EXPECT_EQ(f.find(e.user), &e);
  }
}

TEST(PasswdLineUser, FirstField) {
  EXPECT_EQ(passwd_line_user("alice:{PLAIN}x:1"), "alice");
  EXPECT_EQ(passwd_line_user("alice"), "alice");
  EXPECT_EQ(passwd_line_user("alice\r"), "alice");
  EXPECT_EQ(passwd_line_user("#alice:x"), "");
  EXPECT_EQ(passwd_line_user("  "), "");
  EXPECT_EQ(passwd_line_user(""), "");
  EXPECT_EQ(passwd_line_user(":x"), "");
}

// Whether the server must keep CAP_SETUID/CAP_SETGID for some entry.
TEST(HasOtherOwner, OnlyIdsOtherThanTheServerUsersCount) {
  const struct {
    const char* text;
    bool other;
  } cases[] = {
      {"a:{PLAIN}x\nb:{PLAIN}y::::/h\n", false},  // no ids at all
      {"a:{PLAIN}x:100:200\n", false},            // the server user's own
      {"a:{PLAIN}x:100\n", false},
      {"a:{PLAIN}x::200\n", false},
      {"a:{PLAIN}x\nb:{PLAIN}y:1000:1000\n", true},
      {"a:{PLAIN}x:100:201\n", true},  // another group is enough
      {"a:{PLAIN}x:0:0\n", true},      // refused later, but not the server user
      {"a:{PLAIN}x:abc:1\n", false},   // a skipped line counts for nothing
  };
  for (const auto& c : cases) {
    EXPECT_EQ(has_other_owner(PasswdFile::parse(c.text, "t"), 100, 200), c.other) << c.text;
  }
}

}  // namespace
}  // namespace popbox::auth
