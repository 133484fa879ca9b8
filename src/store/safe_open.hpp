#pragma once
// Opening names below a directory descriptor without ever following a
// symlink. A Maildir belongs to its user, who can replace any entry in it
// with a symlink; the server (often started as root) must not be walked out
// of the Maildir that way. Only the Maildir root itself is opened by path
// (operators symlink /var/mail), everything below it goes through here.

#include <sys/types.h>

#include <cstdint>

#include <system_error>

#include "store/unique_fd.hpp"

namespace popbox::store::detail {

/// Opens `name` (a relative path, usually one component) below `dir_fd`
/// with `flags` (and `mode` for O_CREAT), refusing every symlink on the way
/// and any escape by ".." or an absolute path: openat2(2) with
/// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or, on kernels without openat2,
/// one O_NOFOLLOW open per component. A symlink gives store_errc::unsafe_path;
/// other failures the errno (ENOENT, EACCES, ...).
std::error_code open_beneath(int dir_fd, const char* name, int flags, mode_t mode, UniqueFd& out);

/// openat2 with RESOLVE_CACHED added to `resolve` (0, or RESOLVE_BENEATH |
/// RESOLVE_NO_SYMLINKS): succeeds only when the whole lookup is answered
/// from the dentry cache, so it never waits for the disk. An empty fd on any
/// failure (EAGAIN: not cached; ENOSYS/EINVAL: kernel before 5.12).
UniqueFd open_cached(int dir_fd, const char* name, int flags, std::uint64_t resolve);

/// Same as open_beneath, but always takes the per-component fallback path;
/// for tests of kernels without openat2.
std::error_code open_beneath_fallback(int dir_fd, const char* name, int flags, mode_t mode,
                                      UniqueFd& out);

/// Opens the directory `name` below `dir_fd` (O_RDONLY | O_DIRECTORY).
std::error_code open_dir_beneath(int dir_fd, const char* name, UniqueFd& out);

}  // namespace popbox::store::detail
