#pragma once
// Where users and their stored passwords come from: a passwd-file (the
// default), the PostgreSQL users table ([auth] source = "postgres"), or the
// sandbox's inboxes. The Authenticator puts the credential cache, the dummy
// work for unknown users, APOP and SCRAM on top of any of them, so every
// source gets the same timing and the same answers. Every call may block:
// callers run it on the blocking pool.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "auth/user_info.hpp"

namespace popbox::auth {

/// One user as a source knows it.
struct UserEntry {
  UserEntry() = default;
  UserEntry(UserInfo i, std::string pw) : info(std::move(i)), password(std::move(pw)) {}
  UserEntry(const UserEntry&) = default;
  UserEntry(UserEntry&&) noexcept = default;
  UserEntry& operator=(const UserEntry&) = default;
  UserEntry& operator=(UserEntry&&) noexcept = default;
  ~UserEntry();  ///< wipes the password

  UserInfo info;
  /// "{SCHEME}data", as in a passwd-file; empty: no password logs in.
  std::string password;
  /// Every password is right (the sandbox's auto-created inboxes without
  /// --strict-auth). APOP and SCRAM still need a stored password.
  bool any_password = false;
};

class UserSource {
 public:
  virtual ~UserSource() = default;

  /// Reads the users for the first time; throws std::runtime_error with a
  /// message an operator can act on when the source is unusable.
  virtual void load() = 0;
  /// Rereads now (SIGHUP, `popbox reload`); on error keeps what it had and
  /// returns the message.
  virtual std::optional<std::string> reload() = 0;
  /// Looks whether the users changed behind the source's back and takes the
  /// new ones if so; true when they changed (the caller then empties its
  /// credential cache). The Authenticator calls it at most once a second.
  virtual bool refresh() = 0;
  /// The entry of `user` (exact name); nullopt when there is none. Sets `ec`
  /// (and returns nullopt) when the source cannot answer now: the login gets
  /// [SYS/TEMP], the LMTP recipient 451.
  virtual std::optional<UserEntry> find(std::string_view user, std::error_code& ec) = 0;
  /// A stored password as costly to check as the typical user's, checked for
  /// unknown users so that timing does not tell who exists.
  virtual std::string dummy_password() = 0;
};

/// The users of a Dovecot-compatible passwd-file, reread when it changes.
std::shared_ptr<UserSource> make_passwd_file_source(std::string passwd_file);

}  // namespace popbox::auth
