// Resolving the [server] user/group popbox drops to.
#include <gtest/gtest.h>
#include <sys/fsuid.h>
#include <sys/wait.h>
#include <unistd.h>

#include <future>
#include <stdexcept>
#include <thread>

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

// The file-system ids in force on this thread (setfs*id with an invalid id
// changes nothing and returns the current one).
uid_t fsuid_now() {
  return static_cast<uid_t>(::setfsuid(static_cast<uid_t>(-1)));
}
gid_t fsgid_now() {
  return static_cast<gid_t>(::setfsgid(static_cast<gid_t>(-1)));
}

TEST(FsIdGuard, OwnIdsChangeNothing) {
  std::error_code ec;
  {
    FsIdGuard g(::getuid(), ::getgid(), ec);
    EXPECT_FALSE(ec);
    EXPECT_EQ(fsuid_now(), ::getuid());
  }
  EXPECT_EQ(fsuid_now(), ::getuid());
}

TEST(FsIdGuard, SwitchesOnlyThisThreadAndRestores) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs CAP_SETUID (run as root)";
  // A thread that already runs (new threads copy their creator's ids).
  std::promise<void> go;
  std::future<uid_t> other = std::async(std::launch::async, [wait = go.get_future()]() mutable {
    wait.wait();
    return fsuid_now();
  });
  std::error_code ec;
  {
    FsIdGuard g(4242, 4343, ec);
    EXPECT_FALSE(ec);
    EXPECT_EQ(fsuid_now(), 4242u);
    EXPECT_EQ(fsgid_now(), 4343u);
    go.set_value();
    EXPECT_EQ(other.get(), ::getuid());  // per thread: the other thread is untouched
    EXPECT_EQ(::geteuid(), 0u);          // and the process ids are unchanged
  }
  EXPECT_EQ(fsuid_now(), ::getuid());
  EXPECT_EQ(fsgid_now(), ::getgid());
}

TEST(FsIdGuard, FailsWithoutCapabilityAndChangesNothing) {
  if (::geteuid() == 0) GTEST_SKIP() << "root may take on any id";
  std::error_code ec;
  {
    FsIdGuard g(::getuid() + 1, ::getgid(), ec);
    EXPECT_EQ(ec, std::errc::operation_not_permitted);
  }
  EXPECT_EQ(fsuid_now(), ::getuid());
  EXPECT_EQ(fsgid_now(), ::getgid());
}

// Runs `body` in a forked (single-threaded) child; its exit status, or -1.
template <class Fn>
int in_child(Fn body) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST(DropPrivileges, KeepsOnlySetidCapabilitiesWhenAsked) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  const RunAs who = resolve_run_as("nobody", "");
  const int kept = in_child([&] {
    try {
      drop_privileges(who, false, true);
    } catch (...) {
      return 10;
    }
    if (::getuid() != who.uid || ::geteuid() != who.uid) return 11;
    if (!has_only_setid_capabilities()) return 12;
    std::error_code ec;
    FsIdGuard g(4242, 4343, ec);
    if (ec || fsuid_now() != 4242u || fsgid_now() != 4343u) return 13;
    return 0;
  });
  EXPECT_EQ(kept, 0);
  const int dropped = in_child([&] {
    try {
      drop_privileges(who, false, false);
    } catch (...) {
      return 10;
    }
    if (has_only_setid_capabilities()) return 12;
    std::error_code ec;
    {
      FsIdGuard g(4242, 4343, ec);
      if (ec != std::errc::operation_not_permitted) return 13;
    }
    if (fsuid_now() != who.uid || fsgid_now() != who.gid) return 14;  // nothing changed
    return 0;
  });
  EXPECT_EQ(dropped, 0);
}

}  // namespace
}  // namespace popbox::core
