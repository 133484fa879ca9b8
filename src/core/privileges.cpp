#include "core/privileges.hpp"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sys/capability.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "core/limits.hpp"
#include "core/log.hpp"

namespace popbox::core {
namespace {

[[noreturn]] void fail(const std::string& what, int err) {
  throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(err)));
}

// libcap's cap_t, freed with cap_free.
struct CapFree {
  void operator()(void* p) const noexcept { cap_free(p); }
};
using Caps = std::unique_ptr<std::remove_pointer_t<cap_t>, CapFree>;

constexpr cap_value_t setid_caps[] = {CAP_SETUID, CAP_SETGID};

// CAP_SETUID and CAP_SETGID permitted and effective, nothing else.
Caps setid_only() {
  Caps caps(cap_init());
  if (!caps) fail("cap_init", errno);
  for (cap_flag_t flag : {CAP_PERMITTED, CAP_EFFECTIVE}) {
    if (cap_set_flag(caps.get(), flag, 2, setid_caps, CAP_SET) != 0) fail("cap_set_flag", errno);
  }
  return caps;
}

// Keeps CAP_SETUID and CAP_SETGID after the switch to a non-root uid.
void keep_setid_caps() {
  Caps want = setid_only();
  if (cap_set_proc(want.get()) != 0) fail("cap_set_proc", errno);
  if (::prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L) != 0) fail("prctl(PR_SET_KEEPCAPS)", errno);
  if (!has_only_setid_capabilities()) {
    throw std::runtime_error("capabilities other than setuid/setgid remain");
  }
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

void drop_privileges(const RunAs& who, bool announce, bool keep_setid) {
  // Order matters: groups and gid need root, so they go before the uid.
  // glibc applies each set*id call to every thread of the process.
  if (::initgroups(who.user.c_str(), who.gid) != 0) fail("initgroups", errno);
  if (::setgid(who.gid) != 0) fail("setgid", errno);
  // KEEPCAPS (this thread only) keeps the permitted set across setuid; the
  // effective set is emptied by it and rebuilt below with the two we keep.
  if (keep_setid && ::prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) != 0) {
    fail("prctl(PR_SET_KEEPCAPS)", errno);
  }
  if (::setuid(who.uid) != 0) fail("setuid", errno);
  if (keep_setid) keep_setid_caps();
  if (::getuid() != who.uid || ::geteuid() != who.uid || ::getgid() != who.gid ||
      ::getegid() != who.gid) {
    throw std::runtime_error("privileges were not dropped");
  }
  // With CAP_SETUID the process could become root again by design; without
  // it nothing may bring root back.
  if (!keep_setid && (::setuid(0) == 0 || ::setgid(0) == 0)) {
    throw std::runtime_error("root could be regained");
  }
  if (!announce) return;
  log_info(fmt::format("event=privileges user={} uid={} gid={} capabilities={}", who.user, who.uid,
                       who.gid, keep_setid ? "setuid,setgid" : "none"));
}

bool has_only_setid_capabilities() {
  Caps now(cap_get_proc());
  if (!now) return false;
  Caps want = setid_only();
  return cap_compare(now.get(), want.get()) == 0;
}

void drop_thread_capabilities() {
  std::unique_ptr<std::remove_pointer_t<cap_t>, int (*)(void*)> none(cap_init(), cap_free);
  if (!none || cap_set_proc(none.get()) != 0) fail("cap_set_proc", errno);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) != 0) fail("prctl(PR_SET_NO_NEW_PRIVS)", errno);
}

FsIdGuard::FsIdGuard(uid_t uid, gid_t gid, std::error_code& ec) noexcept {
  ec.clear();
  const uid_t ruid = ::getuid();
  const gid_t rgid = ::getgid();
  if (uid == ruid && gid == rgid) return;
  // setfs*id return the previous id whether or not they succeeded; the
  // second call with the same id returns the one now in force.
  ::setfsgid(gid);
  if (static_cast<gid_t>(::setfsgid(gid)) != gid) {
    ::setfsgid(rgid);
    ec = std::make_error_code(std::errc::operation_not_permitted);
    return;
  }
  ::setfsuid(uid);
  if (static_cast<uid_t>(::setfsuid(uid)) != uid) {
    ::setfsuid(ruid);
    ::setfsgid(rgid);
    ec = std::make_error_code(std::errc::operation_not_permitted);
    return;
  }
  active_ = true;
}

FsIdGuard::~FsIdGuard() {
  if (!active_) return;
  const uid_t ruid = ::getuid();
  const gid_t rgid = ::getgid();
  ::setfsuid(ruid);
  ::setfsgid(rgid);
  if (static_cast<uid_t>(::setfsuid(ruid)) != ruid ||
      static_cast<gid_t>(::setfsgid(rgid)) != rgid) {
    log_error("event=fsid_restore_failed");
    std::abort();
  }
}

std::string refuse_root_message() {
  return "refusing to run as root: set [server] user (e.g. \"popbox\") to the account "
         "popbox should run as";
}

}  // namespace popbox::core
