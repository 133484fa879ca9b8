#pragma once
// The UserSource the configuration asks for ([auth] source), shared by
// `popbox serve`, `popbox check` and `popbox deliver`.

#include <memory>

#include "auth/user_source.hpp"
#include "config/config.hpp"

namespace popbox::store {

/// The users `[auth] source` names: the passwd-file ([auth] passwd_file) or
/// the PostgreSQL users table ([store] dsn, a pool of its own). Not loaded
/// yet: load() it (the Authenticator's load() does).
std::shared_ptr<auth::UserSource> make_user_source(const config::Config& cfg);

/// True when some user's mail is owned by a uid other than `uid` or a gid
/// other than `gid` (a passwd-file entry with its own ids), so the server
/// must keep CAP_SETUID/CAP_SETGID. Rows of the users table name no ids:
/// false for source = "postgres". Throws std::runtime_error when the
/// passwd-file cannot be read.
bool users_have_other_owner(const config::Config& cfg, unsigned uid, unsigned gid);

}  // namespace popbox::store
