#pragma once
// Giving up root. popbox binds its ports and reads its key as root, then
// runs as an unprivileged user, so a bug reached from the network or from a
// user's Maildir cannot act as root (Dovecot's mail processes refuse root).

#include <sys/types.h>

#include <string>
#include <system_error>

namespace popbox::core {

/// The account to run as, resolved from the user database.
struct RunAs {
  std::string user;
  uid_t uid = 0;
  gid_t gid = 0;  ///< the primary group: [server] group, else the user's
};

/// True when the process has root's effective user id.
bool running_as_root() noexcept;

/// Looks up `user` (and `group`, "" = the user's primary group) in the
/// system databases. Throws std::runtime_error for an unknown name and for
/// a user or group that is root (uid/gid 0).
RunAs resolve_run_as(const std::string& user, const std::string& group);

/// Switches the whole process (every thread) to `who`: its supplementary
/// groups (initgroups), then setgid, then setuid. Verifies that root cannot
/// be regained, logs `event=privileges user=... uid=... gid=...`, and throws
/// std::runtime_error on any failure. `announce` false skips the log line
/// (for a short-lived child process that only tests access).
///
/// `keep_setid` true keeps CAP_SETUID and CAP_SETGID (nothing else) in the
/// calling thread's permitted and effective sets, so FsIdGuard can act for
/// mailbox owners; threads created afterwards inherit them. Call it before
/// any other thread exists: threads already running lose every capability.
void drop_privileges(const RunAs& who, bool announce = true, bool keep_setid = false);

/// Empties every capability set of the calling thread and sets
/// no_new_privs, for good: threads it starts afterwards inherit that. The
/// server calls it once the mail pool (the only threads that act for
/// mailbox owners) is running, so network-facing threads cannot regain root.
void drop_thread_capabilities();

/// While alive, the calling thread's file-system ids are `uid`/`gid`
/// (setfsgid, then setfsuid, each checked with a second call); the
/// destructor puts back the process's real ids. Nothing happens when they
/// already are `uid`/`gid`. Supplementary groups are process-wide and stay
/// the server user's. ec is std::errc::operation_not_permitted when the
/// switch failed (no CAP_SETUID/CAP_SETGID): then nothing was changed.
class FsIdGuard {
 public:
  FsIdGuard(uid_t uid, gid_t gid, std::error_code& ec) noexcept;
  /// Restores the real ids; aborts if it cannot, since the thread would
  /// otherwise go on working for the wrong user.
  ~FsIdGuard();
  FsIdGuard(const FsIdGuard&) = delete;
  FsIdGuard& operator=(const FsIdGuard&) = delete;

 private:
  bool active_ = false;
};

/// True when the calling thread's effective capabilities are exactly
/// CAP_SETUID and CAP_SETGID.
bool has_only_setid_capabilities();

/// The message for a process started as root with no user to drop to.
std::string refuse_root_message();

}  // namespace popbox::core
