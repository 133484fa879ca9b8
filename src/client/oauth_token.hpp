#pragma once
// The pure parts of OAuth2 sign-in: PKCE (RFC 7636), the token endpoint's
// JSON answers (RFC 6749 5.1/5.2), the device authorization answer and the
// device flow's polling decisions (RFC 8628), and when to refresh. No I/O,
// no clock: times are passed in as unix seconds.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace popbox::client::oauth {

/// A code verifier of 43 characters from the unreserved set, from a CSPRNG
/// (RFC 7636 4.1: 32 random octets, base64url).
std::string make_code_verifier();
/// BASE64URL(SHA256(verifier)) without padding (RFC 7636 4.2, S256).
std::string code_challenge_s256(std::string_view verifier);
/// A random `state` value for the authorization request (RFC 6749 10.12).
std::string make_state();
/// libsodium is initialised (once, thread-safe); throws when it cannot be.
void ensure_sodium();

/// What the token endpoint answered.
struct TokenReply {
  bool ok = false;              ///< an access token came; else `error` is set
  std::string access_token;     ///< never logged
  std::string refresh_token;    ///< empty: the provider kept the old one
  std::int64_t expires_in = 0;  ///< seconds; 0: not said
  std::string error;            ///< RFC 6749 5.2 / RFC 8628 3.5 code, or "invalid_response"
  std::string error_description;
};

/// Parses a token endpoint body; anything that is not the JSON of RFC 6749
/// 5.1 or 5.2 (not an object, wrong types, an empty token, control
/// characters in a token) gives error "invalid_response" with a short
/// reason, never an exception.
TokenReply parse_token_reply(std::string_view body);

/// The device authorization answer (RFC 8628 3.2).
struct DeviceAuthorization {
  std::string device_code;
  std::string user_code;
  std::string verification_uri;
  std::string verification_uri_complete;  ///< optional
  std::int64_t expires_in = 0;
  std::int64_t interval = 0;  ///< seconds between polls
};

/// Parses the device endpoint's body (Microsoft's v2.0 endpoint spells
/// verification_uri as such; Google's too); nullopt and `why` when it is
/// not usable.
std::optional<DeviceAuthorization> parse_device_authorization(std::string_view body,
                                                              std::string& why);

/// The device flow's polling as a state machine (RFC 8628 3.4, 3.5).
class DevicePoll {
 public:
  enum class Step { wait, done, failed };
  /// Starts at unix time `now` with what the device endpoint said.
  DevicePoll(const DeviceAuthorization& auth, std::int64_t now);
  /// Seconds to wait before the next token request.
  std::int64_t interval() const { return interval_; }
  /// Whether to poll again, having had `reply` at unix time `now`; on
  /// failed, message() says why (denied, expired, the provider's error).
  Step on_reply(const TokenReply& reply, std::int64_t now);
  /// Whether to poll again after the token request failed in transit
  /// (network error, timeout, HTTP 5xx) at `now`: the interval doubles
  /// (RFC 8628 3.5) and polling goes on until the code expires.
  Step on_transient_error(std::int64_t now);
  /// Why the flow failed.
  const std::string& message() const { return message_; }

 private:
  Step keep_waiting(std::int64_t now);
  std::int64_t interval_;
  std::int64_t deadline_;
  std::string message_;
};

/// What the token store holds for an account.
struct StoredTokens {
  std::string refresh_token;
  std::string access_token;
  std::int64_t expires_at = 0;  ///< unix seconds; 0: unknown
};

/// True when `t` has no access token or it expires within
/// limits::oauth_refresh_margin of `now` (an unknown expiry counts as
/// expired once a refresh token is there to get a new one).
bool needs_refresh(const StoredTokens& t, std::int64_t now);

/// Applies a successful token reply received at `now` to `t` (a new
/// refresh token replaces the old one; none keeps it).
void apply_reply(StoredTokens& t, const TokenReply& reply, std::int64_t now);

/// A provider's error code and description, made safe for a terminal (no
/// control characters or escapes, one line) and bounded by
/// limits::oauth_max_error_text.
std::string describe_error(const TokenReply& reply);

/// Overwrites every string in `j` (a parsed token answer or store) with
/// zeros before it is freed.
void wipe_json(nlohmann::json& j);

}  // namespace popbox::client::oauth
