#pragma once
// The popbox configuration file (TOML), parsed once into plain structs.
// Every key is documented in docs/configuration.md; unknown keys are errors
// so a typo never silently falls back to a default.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/ip_address.hpp"

namespace popbox::config {

/// A configuration problem, with file and position in the message.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Endpoint {
  std::string host;  ///< numeric IPv4 or IPv6 address
  std::uint16_t port = 0;
};

enum class Plaintext { never, loopback, always };

struct ServerConfig {
  std::vector<Endpoint> listen;      ///< plain POP3 (STLS when TLS is set up)
  std::vector<Endpoint> listen_tls;  ///< implicit TLS (RFC 8314)
  std::string hostname;              ///< greeting and APOP timestamp
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(10)};
  std::size_t max_connections = 10000;
  unsigned threads = 0;                    ///< event threads; 0 = one per core
  std::optional<int> expire_days;          ///< EXPIRE capability; -1 = NEVER
  std::optional<int> login_delay_seconds;  ///< LOGIN-DELAY capability, enforced
  /// Peers that must start with a PROXY protocol header naming the client.
  std::vector<core::Cidr> trusted_proxies;
  std::string user;   ///< run as this user once started as root ("" = stay)
  std::string group;  ///< its primary group instead of the user's ("" = the user's)
};

/// Per-client limits against abuse from the open internet (issue 7).
struct LimitsConfig {
  /// The whole pre-login phase (TLS handshake, STLS, USER/PASS) must fit.
  std::chrono::milliseconds login_timeout{std::chrono::seconds(60)};
  std::size_t max_connections_per_ip = 20;  ///< POP3 connections per IP (/64)
  std::size_t auth_failures_per_ip = 50;    ///< then the IP is refused for a while
};

struct TlsConfig {
  bool enabled = false;
  /// The certificate chains and their keys, paired in order: one per key
  /// type (e.g. ECDSA and RSA), the client's abilities choose.
  std::vector<std::filesystem::path> certs, keys;
  std::filesystem::path cert, key;  ///< the first pair (also what SCRAM's fake salts derive from)
  std::string min_version = "1.2";  ///< "1.2" or "1.3"
};

/// [auth.oauth]: OAUTHBEARER and XOAUTH2 with JWT access tokens checked
/// locally against the identity provider's public keys (no network calls).
struct OAuthConfig {
  std::string issuer;                              ///< the token's `iss` must equal it
  std::string audience;                            ///< the token's `aud` must be or contain it
  std::vector<std::filesystem::path> public_keys;  ///< PEM files (RS256, ES256)
  std::filesystem::path jwks_file;                 ///< a JWKS document; keys matched by `kid`
  std::string user_claim = "email";                ///< names the user logging in
};

/// [auth] source: where users and their password hashes live.
enum class UserSource { passwd_file, postgres };

struct AuthConfig {
  UserSource source = UserSource::passwd_file;  ///< postgres: the users table at [store] dsn
  std::filesystem::path passwd_file;            ///< required with source = "passwd-file"
  Plaintext allow_plaintext = Plaintext::loopback;
  bool apop = false;
  std::chrono::milliseconds failure_delay{2000};
  /// Dovecot's auth_username_format: "%Lu" (its default) lowercases login
  /// names before lookup, "%u" keeps them as typed.
  std::string username_format = "%Lu";
  std::optional<OAuthConfig> oauth;  ///< set when [auth.oauth] exists
  /// Like Dovecot's first_valid_uid: a passwd-file entry whose uid is below
  /// it gets no mailbox access (uid 0 and gid 0 never do).
  unsigned first_valid_uid = 500;
  /// Key material for made-up SCRAM salts of unknown users; unset: the TLS
  /// key, or (no TLS either) a per-process random key.
  std::filesystem::path scram_fake_secret_file;
  /// Verified-credentials cache (like Dovecot's auth_cache_ttl and
  /// auth_cache_size): how long a right password is remembered, and how
  /// many users at most; either 0 turns it off.
  std::chrono::milliseconds cache_ttl{std::chrono::minutes(5)};
  std::size_t cache_size = 100000;

  /// The name to look up for what a client typed.
  std::string canonical_user(std::string_view typed) const;
};

/// The default `[mail] lock_file`: one absolute path, so that every popbox
/// process on the host (serve, a second serve, a CLI verb run with another
/// config) locks in the same file and sees the others' sessions.
inline constexpr char default_lock_file[] = "/run/popbox/maildrop.lock";

struct MailConfig {
  std::string maildir;  ///< path template: %u, %n, %d
  /// UIDL format to emulate for messages without a recorded UIDL (issue 3):
  /// "popbox" (the Maildir base name) or a Dovecot pop3_uidl_format such as
  /// "%08Xu%08Xv".
  std::string uidl_format = "popbox";
  /// Whether a message's X-UIDL header may become its UIDL while adoption is
  /// open (Dovecot's pop3_reuse_xuidl). Off: any sender can write that
  /// header, so it would let a stranger pick or collide UIDLs.
  bool uidl_adopt_x_uidl = false;
  /// The one file every popbox process keeps its maildrop locks in (OFD
  /// byte-range locks, no descriptor per session); "" = a flock on
  /// popbox.lock in each Maildir.
  std::string lock_file = default_lock_file;
};

/// [store]: which backend keeps the mail (the Store seam, DESIGN.md).
enum class StoreBackend { maildir, postgres };

struct StoreConfig {
  StoreBackend backend = StoreBackend::maildir;
  /// libpq connection URI or key=value string; required with postgres.
  std::string dsn;
  /// PostgreSQL connections each node keeps open (sessions hold one each
  /// while logged in, for their advisory lock).
  std::size_t pool_size = 16;
};

/// Default per-user limits; passwd-file extra fields override them
/// (userdb_quota_rule=*:storage=100M, userdb_quota_rule2=*:messages=10000).
struct QuotaConfig {
  std::uint64_t storage = 0;   ///< bytes; 0 = unlimited
  std::uint64_t messages = 0;  ///< 0 = unlimited
  bool temporary = false;      ///< over quota is a temporary failure (452 / EX_TEMPFAIL)
};

/// LMTP listener inside `popbox serve` (RFC 2033).
struct LmtpConfig {
  std::vector<Endpoint> listen;
  std::string unix_path;
  std::uint64_t max_message_size = 50ull << 20;
  std::size_t max_connections = 1000;  ///< LMTP's own budget, apart from POP3's
};

/// Local delivery (`popbox deliver`, LMTP): headers added like Dovecot's LDA.
struct DeliverConfig {
  bool return_path = true;   ///< add Return-Path: <sender>
  bool delivered_to = true;  ///< add Delivered-To: <recipient>
};

/// [admin]: the local socket `popbox who`, `kick`, `mailbox`, `reload` talk to.
struct AdminConfig {
  /// Unix socket path ("" = no admin socket); created mode 0660, group `group`.
  std::string socket;
  /// The group that may use the socket ("" = the server's group).
  std::string group;
};

/// [metrics]: Prometheus text format at http://listen/metrics.
struct MetricsConfig {
  std::optional<Endpoint> listen;  ///< unset = no metrics endpoint
};

struct Config {
  std::filesystem::path source;
  ServerConfig server;
  TlsConfig tls;
  AuthConfig auth;
  MailConfig mail;
  StoreConfig store;
  QuotaConfig quota;
  LmtpConfig lmtp;
  DeliverConfig deliver;
  LimitsConfig limits;
  AdminConfig admin;
  MetricsConfig metrics;
  std::string log_level = "info";
};

/// One section of the config file ("server", "auth.oauth") and the keys it
/// takes, not counting its subsections.
struct SectionKeys {
  std::string_view name;
  std::vector<std::string_view> keys;
};

/// Every section this version knows, in the order of the reference docs;
/// `load` refuses any key or section not listed here.
const std::vector<SectionKeys>& known_sections();
/// Every key as "section.key" ("server.listen", "auth.oauth.issuer").
std::vector<std::string> known_keys();

/// Reads and validates a config file; throws ConfigError naming the problem.
Config load(const std::filesystem::path& file);

/// Parses "90s", "10m", "2h", "1d", "500ms" (a bare number means seconds).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
/// Parses "512", "64K", "50M", "2G" (powers of 1024) into bytes.
std::optional<std::uint64_t> parse_size(std::string_view text);
/// Parses "127.0.0.1:110", "[::1]:110", "*:110" (any IPv4 address).
std::optional<Endpoint> parse_endpoint(std::string_view text);

}  // namespace popbox::config
