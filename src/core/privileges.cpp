#include "core/privileges.hpp"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "core/limits.hpp"
#include "core/log.hpp"

namespace popbox::core {
namespace {

[[noreturn]] void fail(const std::string& what, int err) {
  throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(err)));
}

}  // namespace

bool running_as_root() noexcept {
  return ::geteuid() == 0;
}

RunAs resolve_run_as(const std::string& user, const std::string& group) {
  RunAs who;
  std::vector<char> buf(limits::account_lookup_buffer);
  passwd pw{};
  passwd* pw_found = nullptr;
  int rc = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &pw_found);
  if (rc != 0) fail(fmt::format("cannot look up user '{}'", user), rc);
  if (pw_found == nullptr)
    throw std::runtime_error(fmt::format("[server] user '{}' does not exist", user));
  if (pw.pw_uid == 0) throw std::runtime_error(fmt::format("[server] user '{}' is root", user));
  who.user = user;
  who.uid = pw.pw_uid;
  who.gid = pw.pw_gid;
  if (!group.empty()) {
    struct group gr {};
    struct group* gr_found = nullptr;
    rc = ::getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &gr_found);
    if (rc != 0) fail(fmt::format("cannot look up group '{}'", group), rc);
    if (gr_found == nullptr) {
      throw std::runtime_error(fmt::format("[server] group '{}' does not exist", group));
    }
    who.gid = gr.gr_gid;
  }
  if (who.gid == 0) throw std::runtime_error(fmt::format("[server] group of '{}' is root", user));
  return who;
}

void drop_privileges(const RunAs& who, bool announce) {
  // Order matters: groups and gid need root, so they go before the uid.
  // glibc applies each set*id call to every thread of the process.
  if (::initgroups(who.user.c_str(), who.gid) != 0) fail("initgroups", errno);
  if (::setgid(who.gid) != 0) fail("setgid", errno);
  if (::setuid(who.uid) != 0) fail("setuid", errno);
  if (::getuid() != who.uid || ::geteuid() != who.uid || ::getgid() != who.gid ||
      ::getegid() != who.gid) {
    throw std::runtime_error("privileges were not dropped");
  }
  if (::setuid(0) == 0 || ::setgid(0) == 0) throw std::runtime_error("root could be regained");
  if (!announce) return;
  log_info(fmt::format("event=privileges user={} uid={} gid={}", who.user, who.uid, who.gid));
}

std::string refuse_root_message() {
  return "refusing to run as root: set [server] user (e.g. \"popbox\") to the account "
         "popbox should run as";
}

}  // namespace popbox::core
