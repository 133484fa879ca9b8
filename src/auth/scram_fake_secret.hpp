#pragma once
// Where the key for made-up SCRAM salts comes from. Unknown users must get
// the same salt whatever process answers (after a restart, on another
// backend), as real users do, or the salt tells who exists.

#include <filesystem>
#include <optional>
#include <string>

namespace popbox::auth {

/// The secret material for made-up SCRAM salts: the bytes of `secret_file`
/// when it is set, else the DER of the TLS private key in `tls_key` when it
/// is set; nullopt when neither is (the caller keeps a per-process random
/// key). Throws std::runtime_error naming the file when a named file cannot
/// be read or holds nothing usable.
std::optional<std::string> load_scram_fake_secret(const std::filesystem::path& secret_file,
                                                  const std::filesystem::path& tls_key);

/// A 32-byte key derived from `material` with HKDF-SHA256 (a fixed,
/// popbox-specific salt and label); throws std::runtime_error if OpenSSL fails.
std::string derive_scram_fake_key(const std::string& material);

}  // namespace popbox::auth
