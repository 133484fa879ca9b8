// Resolving the [server] user/group popbox drops to.
#include <gtest/gtest.h>

#include <stdexcept>

#include "core/privileges.hpp"

namespace popbox::core {
namespace {

TEST(RunAs, RefusesUnknownNamesAndRoot) {
  EXPECT_THROW(resolve_run_as("no-such-user-popbox", ""), std::runtime_error);
  EXPECT_THROW(resolve_run_as("root", ""), std::runtime_error);
  EXPECT_THROW(resolve_run_as("nobody", "no-such-group-popbox"), std::runtime_error);
  EXPECT_THROW(resolve_run_as("nobody", "root"), std::runtime_error);
}

TEST(RunAs, TakesTheUsersIdsOrTheGivenGroup) {
  RunAs who = resolve_run_as("nobody", "");
  EXPECT_EQ(who.user, "nobody");
  EXPECT_NE(who.uid, 0u);
  RunAs with_group = resolve_run_as("nobody", "nogroup");
  EXPECT_EQ(with_group.uid, who.uid);
  EXPECT_NE(with_group.gid, 0u);
}

}  // namespace
}  // namespace popbox::core
