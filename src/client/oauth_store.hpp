#pragma once
// The token store: one JSON file per account (state_dir/NAME.oauth.json),
// mode 0600 from its creation (a fresh O_EXCL temporary file, never a
// widened one), replaced atomically (write, fsync, rename, fsync the
// directory). A file readable by others, or owned by someone else, is
// refused rather than trusted.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "client/error.hpp"
#include "client/oauth_token.hpp"
#include "store/unique_fd.hpp"

namespace popbox::client::oauth {

/// Which file a load read: every save is a new inode, so a changed stamp
/// means someone saved since.
struct FileStamp {
  dev_t dev = 0;
  ino_t ino = 0;
  std::int64_t mtime_ns = 0;
  off_t size = 0;
  bool operator==(const FileStamp&) const = default;
};

/// Reads the tokens at `path`: nullopt and no failure when there is no
/// file; a Failure (fetch_errc::state) when it is unsafe or malformed.
/// `stamp`, when given, receives the identity of the file read.
Failure load_tokens(const std::string& path, std::optional<StoredTokens>& tokens,
                    FileStamp* stamp = nullptr);

/// True when the file at `path` is still the one `stamp` describes.
bool unchanged(const std::string& path, const FileStamp& stamp);

/// Takes the exclusive lock of the token store at `path` (the file
/// NAME.oauth.lock beside NAME.oauth.json), waiting up to
/// limits::oauth_store_lock_wait for another run or login to let go; held
/// until `fd` closes.
Failure lock_store(const std::string& path, store::detail::UniqueFd& fd);

/// Replaces the file at `path` with `tokens`, atomically and durably;
/// on failure the old file is untouched.
Failure save_tokens(const std::string& path, const StoredTokens& tokens);

}  // namespace popbox::client::oauth
