// Which ids a passwd-file entry's mailbox is accessed with.
#include <gtest/gtest.h>
#include <unistd.h>

#include <optional>

#include "store/owned_mailbox.hpp"

namespace popbox::store {
namespace {

struct OwnerCase {
  std::optional<unsigned> uid, gid;
  unsigned first_valid_uid;
  bool refused;
  std::optional<Owner> want;
};

TEST(EntryOwner, Table) {
  const gid_t my_group = ::getgid();
  const OwnerCase cases[] = {
      {std::nullopt, std::nullopt, 500, false, std::nullopt},  // no ids: the server user
      {1000, 1000, 500, false, Owner{1000, 1000}},
      // a missing gid is the server user's (refused when that is root's)
      {1000, std::nullopt, 500, my_group == 0,
       my_group == 0 ? std::nullopt : std::optional<Owner>(Owner{1000, my_group})},
      {0, 1000, 500, true, std::nullopt},  // root is never an owner
      {1000, 0, 500, true, std::nullopt},
      {0, 0, 0, true, std::nullopt},
      {499, 1000, 500, true, std::nullopt},  // below first_valid_uid
      {499, 1000, 499, false, Owner{499, 1000}},
  };
  for (const OwnerCase& c : cases) {
    std::error_code ec;
    std::optional<Owner> got = entry_owner(c.uid, c.gid, c.first_valid_uid, ec);
    EXPECT_EQ(static_cast<bool>(ec), c.refused) << c.uid.value_or(~0u);
    if (c.refused) {
      EXPECT_EQ(ec, store_errc::owner_refused);
      EXPECT_EQ(ec, std::errc::operation_not_permitted);  // a permanent, operator's problem
    }
    EXPECT_EQ(got, c.want) << c.uid.value_or(~0u);
  }
}

TEST(EntryOwner, TheServerUsersOwnIdsNeedNoSwitch) {
  std::error_code ec;
  const unsigned me = ::getuid(), my_group = ::getgid();
  if (me == 0) GTEST_SKIP() << "root's ids are always refused";
  EXPECT_EQ(entry_owner(me, my_group, me + 1, ec), std::nullopt);
  EXPECT_FALSE(ec);
}

}  // namespace
}  // namespace popbox::store
