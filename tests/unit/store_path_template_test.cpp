// PathTemplate: expansion table, hostile user names, bad templates.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "store/mailbox.hpp"
#include "store/path_template.hpp"

namespace popbox::store {
namespace {

struct Expansion {
  const char* tmpl;
  std::string user;
  const char* expected;  // nullptr: bad_path
};

class PathTemplateTable : public ::testing::TestWithParam<Expansion> {};

TEST_P(PathTemplateTable, Expands) {
  const Expansion& x = GetParam();
  PathTemplate t(x.tmpl);
  std::error_code ec;
  std::string out = t.expand(x.user, ec);
  if (x.expected == nullptr) {
    EXPECT_EQ(ec, store_errc::bad_path) << x.tmpl << " / " << x.user;
    EXPECT_EQ(out, "");
  } else {
    EXPECT_FALSE(ec) << x.tmpl << " / " << x.user << ": " << ec.message();
    EXPECT_EQ(out, x.expected);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PathTemplateTable,
    ::testing::Values(
        Expansion{"/var/mail/%u", "bob", "/var/mail/bob"},
        Expansion{"/var/mail/%u/Maildir", "bob@example.com", "/var/mail/bob@example.com/Maildir"},
        Expansion{"/var/mail/%d/%n", "bob@example.com", "/var/mail/example.com/bob"},
        Expansion{"/var/mail/%n", "bob@example.com", "/var/mail/bob"},
        Expansion{"/var/mail/%n", "bob", "/var/mail/bob"},
        Expansion{"/m/100%%/%u", "bob", "/m/100%/bob"}, Expansion{"/m/%%u", "bob", "/m/%u"},
        Expansion{"/m/%n-%d", "a@b", "/m/a-b"},
        // Only the first '@' splits: the domain keeps the rest.
        Expansion{"/m/%d/%n", "a@b@c", "/m/b@c/a"}, Expansion{"/m/%n", "a.b..c", "/m/a.b..c"},
        Expansion{"/m/%n", "...", "/m/..."},
        // A part the template does not use may be anything.
        Expansion{"/m/%n", "bob@..", "/m/bob"},
        // No '@': %d is empty, as in Dovecot, while %n/%u keep it per user.
        Expansion{"/m/%d/%n", "bob", "/m//bob"},
        Expansion{"/m/%d/%u/Maildir", "bob", "/m//bob/Maildir"},
        Expansion{"/m/%d", "bob", nullptr},      // every such user would get "/m/"
        Expansion{"/m/%d/%n", "bob@", nullptr},  // '@' with nothing after it
        Expansion{"/m/%d/%n", "@", nullptr}, Expansion{"/m/%n", "@example.com", nullptr},
        Expansion{"/m/%d", "bob@", nullptr}, Expansion{"/m/%u", "", nullptr},
        Expansion{"/m/%u", ".", nullptr}, Expansion{"/m/%u", "..", nullptr},
        Expansion{"/m/%u", "../etc", nullptr}, Expansion{"/m/%u", "a/b", nullptr},
        Expansion{"/m/%u", "/", nullptr}, Expansion{"/m/%n", "..@x", nullptr},
        Expansion{"/m/%d/%n", "bob@..", nullptr}, Expansion{"/m/%d/%n", "bob@.", nullptr},
        Expansion{"/m/%u", std::string("a\0b", 3), nullptr},
        Expansion{"/m/%u", std::string(256, 'a'), nullptr}));

TEST(PathTemplate, LongestAcceptedName) {
  PathTemplate t("/m/%u");
  std::error_code ec;
  EXPECT_EQ(t.expand(std::string(255, 'a'), ec), "/m/" + std::string(255, 'a'));
  EXPECT_FALSE(ec);
}

TEST(PathTemplate, KeepsTemplateText) {
  EXPECT_EQ(PathTemplate("/m/%u").text(), "/m/%u");
}

TEST(PathTemplate, RejectsBadTemplates) {
  for (const char* bad : {"", "Maildir/%u", "~/Maildir", "/m/%x", "/m/%", "/m/%u%", "/m/../%u",
                          "/m/./%u", "/m/%u/..", "%u"}) {
    EXPECT_THROW(PathTemplate{bad}, std::invalid_argument) << bad;
  }
  EXPECT_THROW(PathTemplate(std::string("/m/\0/%u", 7)), std::invalid_argument);
  // Dots inside a component are fine.
  EXPECT_NO_THROW(PathTemplate("/m/.maildirs/%u..x/%%."));
}

}  // namespace
}  // namespace popbox::store
