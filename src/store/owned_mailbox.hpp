#pragma once
// Mailboxes of system users: a passwd-file entry with uid/gid owns its
// Maildir, and every file-system access for it is made with those ids on
// the thread doing it (core::FsIdGuard), never with the server user's.

#include <memory>
#include <optional>
#include <system_error>

#include "store/mailbox.hpp"

namespace popbox::store {

/// The owner an entry's uid/gid fields ask for. nullopt (ec clear) when it
/// gives neither or names the server user's own ids: the server user then.
/// A missing one of the two is the server user's. ec is
/// store_errc::owner_refused for uid 0 or gid 0 (always), or for a uid
/// below `first_valid_uid` that is not the server user's.
std::optional<Owner> entry_owner(std::optional<unsigned> uid, std::optional<unsigned> gid,
                                 unsigned first_valid_uid, std::error_code& ec);

/// Logs `event=owner_switch_failed` for ids the process cannot take on.
void log_owner_switch_failed(const Owner& owner);

/// `inner` with every call (open, each block read, commit, the unlock at
/// destruction) made as `owner`.
std::unique_ptr<Mailbox> owned_mailbox(std::unique_ptr<Mailbox> inner, Owner owner);

}  // namespace popbox::store
