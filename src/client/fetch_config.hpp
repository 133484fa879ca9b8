#pragma once
// The `popbox fetch` configuration: a TOML file of [[account]] tables (its
// own format, separate from the server config). Every key is described in
// docs/fetch.md; unknown keys are errors.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "client/target.hpp"
#include "client/types.hpp"
#include "core/limits.hpp"

namespace popbox::client {

/// OAuth2 sign-in of an account: a provider preset, overridden key by key.
struct OAuthConfig {
  std::string provider;  ///< "google", "microsoft" or "custom"
  std::string authorize_url;
  std::string token_url;
  std::string device_url;
  std::string client_id;
  std::string client_secret;  ///< empty: a public client (PKCE only)
  std::vector<std::string> scopes;
  std::string ca_file;  ///< `oauth_ca_file`: empty: the system trust store
};

struct AccountConfig {
  std::string name;  ///< [A-Za-z0-9._-]+, unique; names the state files
  std::string host;
  std::uint16_t port = 995;  ///< default 995 for implicit TLS, 110 otherwise
  TlsMode tls = TlsMode::implicit;
  std::string ca_file;      ///< empty: the system trust store
  std::string fingerprint;  ///< base64 SHA-256 of the server's SubjectPublicKeyInfo, or empty
  std::string user;
  std::optional<std::string> password;
  std::optional<std::string> password_command;
  AuthMech auth = AuthMech::automatic;
  std::optional<OAuthConfig> oauth;  ///< set: tokens come from `popbox fetch login`
  bool keep = true;
  int keep_days = 0;  ///< with keep: delete this many days after download; 0 = never
  Target deliver;
  std::optional<std::uint64_t> max_size;
  std::string state_dir;
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds poll{std::chrono::minutes(5)};  ///< daemon: time between runs
  std::string where;  ///< "file:line" of the [[account]] header, for messages
  /// `[fetch] max_messages_per_run`: messages one run downloads at most.
  std::size_t max_messages_per_run = limits::default_max_messages_per_run;
};

struct FetchConfig {
  std::filesystem::path source;
  /// `[fetch] max_messages_per_run` (also copied into every account).
  std::size_t max_messages_per_run = limits::default_max_messages_per_run;
  std::vector<AccountConfig> accounts;
  bool daemon = false;  ///< [fetch] daemon: plain `popbox fetch` keeps polling
  std::chrono::milliseconds poll{std::chrono::minutes(5)};  ///< [fetch] poll: the default
};

/// Reads and validates a fetch config; throws config::ConfigError naming
/// file:line:column and the problem. `home` expands "~" in paths.
FetchConfig load_fetch_config(const std::filesystem::path& file, const std::string& home);

/// The file holding the account's OAuth tokens (state_dir/NAME.oauth.json).
std::string oauth_token_path(const AccountConfig& account);

/// The user's home directory ($HOME, else the password database).
std::string home_dir();

}  // namespace popbox::client
