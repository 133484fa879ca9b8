// The sandbox's inboxes as POP3 users (sandbox::Pop3Users).
#include <gtest/gtest.h>

#include "sandbox/inbox_hub.hpp"
#include "sandbox/pop3_users.hpp"

using namespace popbox::sandbox;

namespace {

struct Users {
  Users() : hub(make_memory_storage(), Limits{}) {
    popbox::core::Spool spool;
    spool.append("Subject: x\r\n\r\nx\r\n");
    EXPECT_FALSE(hub.deliver("from@x.test", {"auto@example.com"}, spool).ec);
    InboxSpec spec;
    spec.address = "Pw@Example.com";
    spec.password = "s3cret";
    InboxInfo info;
    EXPECT_FALSE(hub.create_inbox(spec, info));
  }
  std::optional<popbox::auth::UserEntry> find(bool strict, std::string_view user) {
    Pop3Users users(hub, strict);
    std::error_code ec;
    auto e = users.find(user, ec);
    EXPECT_FALSE(ec);
    return e;
  }
  InboxHub hub;
};

}  // namespace

TEST(SandboxPop3Users, AnInboxWithAPasswordNeedsIt) {
  Users u;
  for (bool strict : {false, true}) {
    auto e = u.find(strict, "pw@EXAMPLE.com");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->info.name, "pw@example.com");
    EXPECT_EQ(e->password, "{PLAIN}s3cret");
    EXPECT_FALSE(e->any_password);
    EXPECT_FALSE(e->info.uid);
  }
}

TEST(SandboxPop3Users, InboxesWithoutOneTakeAnyPasswordUnlessStrict) {
  Users u;
  for (const char* user : {"auto@example.com", "not-yet@example.com"}) {
    auto e = u.find(false, user);
    ASSERT_TRUE(e) << user;
    EXPECT_TRUE(e->any_password);
    EXPECT_EQ(e->password, "");
    EXPECT_FALSE(u.find(true, user)) << user;
  }
}

TEST(SandboxPop3Users, NamesThatCannotBeAnInboxAreNobody) {
  Users u;
  EXPECT_FALSE(u.find(false, ""));
  EXPECT_FALSE(u.find(false, "a b@example.com"));
  EXPECT_FALSE(u.find(false, "../x"));
  Pop3Users users(u.hub, false);
  EXPECT_TRUE(users.dummy_password().starts_with("{PLAIN}"));
  EXPECT_FALSE(users.refresh());
  EXPECT_FALSE(users.reload());
}
