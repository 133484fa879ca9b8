#pragma once
// The token store: one JSON file per account (state_dir/NAME.oauth.json),
// mode 0600 from its creation (a fresh O_EXCL temporary file, never a
// widened one), replaced atomically (write, fsync, rename, fsync the
// directory). A file readable by others, or owned by someone else, is
// refused rather than trusted.

#include <optional>
#include <string>

#include "client/error.hpp"
#include "client/oauth_token.hpp"

namespace popbox::client::oauth {

/// Reads the tokens at `path`: nullopt and no failure when there is no
/// file; a Failure (fetch_errc::state) when it is unsafe or malformed.
Failure load_tokens(const std::string& path, std::optional<StoredTokens>& tokens);

/// Replaces the file at `path` with `tokens`, atomically and durably;
/// on failure the old file is untouched.
Failure save_tokens(const std::string& path, const StoredTokens& tokens);

}  // namespace popbox::client::oauth
