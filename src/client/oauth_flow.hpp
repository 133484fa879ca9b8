#pragma once
// OAuth2 for an account, with I/O: token requests, the refresh before a
// run, and the two sign-in flows of `popbox fetch login` (authorization
// code + PKCE over a loopback redirect, RFC 8252 7.3; the device grant,
// RFC 8628). Tokens never reach a log or a message.

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "client/error.hpp"
#include "client/fetch_config.hpp"
#include "client/oauth_http.hpp"
#include "client/oauth_token.hpp"

namespace popbox::client::oauth {

/// POSTs a token request (`fields` plus client_id and, when configured,
/// client_secret) to the account's token endpoint. A provider's refusal
/// comes back in `reply` (ok false, error set), not as a Failure; a
/// Failure means the endpoint could not be asked or answered nonsense.
Failure token_request(const OAuthConfig& config, Form fields, TokenReply& reply);

/// The access token to log in with: the stored one, or a fresh one when it
/// expires within limits::oauth_refresh_margin of `now` or `force` is set
/// (after the server refused it). The store is updated before the token is
/// used. No tokens, or a refresh answered invalid_grant:
/// fetch_errc::login_required with the `popbox fetch login` command to run.
Failure access_token(const AccountConfig& account, std::int64_t now, bool force,
                     std::string& token);

/// How the login talks to the user and the world (tests replace `sleep`).
struct LoginIo {
  std::ostream* out = nullptr;                      ///< instructions for the user
  std::function<void(std::int64_t seconds)> sleep;  ///< waits between device polls
  std::function<std::int64_t()> now;                ///< unix seconds
  bool open_browser = true;                         ///< false: print the URL only (`--browser`)
};

/// Signs in with the device authorization grant and saves the tokens.
Failure login_device(const AccountConfig& account, const LoginIo& io);

/// Signs in with the authorization code grant, PKCE S256 and a loopback
/// redirect to a listener on 127.0.0.1 only (an ephemeral port; the URI
/// names localhost for Microsoft, 127.0.0.1 otherwise); prints the URL and,
/// unless io.open_browser is false, opens it with $POPBOX_BROWSER, else
/// xdg-open when a display is there. Saves the tokens.
Failure login_browser(const AccountConfig& account, const LoginIo& io);

/// True when a browser can be opened ($POPBOX_BROWSER, $DISPLAY or
/// $WAYLAND_DISPLAY set).
bool can_open_browser();

/// The message of a login_required failure for `account`.
std::string login_again(const AccountConfig& account, std::string_view why);

}  // namespace popbox::client::oauth
