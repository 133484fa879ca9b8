// Token requests and the refresh before a run.
#include "client/oauth_flow.hpp"

#include <fmt/format.h>

#include "client/auth.hpp"
#include "client/oauth_store.hpp"

namespace popbox::client::oauth {

std::string login_again(const AccountConfig& a, std::string_view why) {
  return fmt::format("{}; run `popbox fetch login --account {}` again", why, a.name);
}

Failure token_request(const OAuthConfig& c, Form fields, TokenReply& reply) {
  fields.emplace_back("client_id", c.client_id);
  if (!c.client_secret.empty()) fields.emplace_back("client_secret", c.client_secret);
  HttpAnswer answer;
  Failure f = post_form(c.token_url, fields, c.ca_file, answer);
  for (auto& [key, value] : fields) wipe(value);
  if (f) return f;
  reply = parse_token_reply(answer.body);
  wipe(answer.body);
  if (reply.error == "invalid_response") {
    return fail(answer.status >= 500 ? fetch_errc::temporary : fetch_errc::protocol,
                fmt::format("token endpoint {} (HTTP {}): {}", c.token_url, answer.status,
                            reply.error_description));
  }
  if (reply.ok && answer.status != 200) {
    return fail(fetch_errc::protocol, fmt::format("token endpoint {} gave a token with HTTP {}",
                                                  c.token_url, answer.status));
  }
  return {};
}

Failure access_token(const AccountConfig& a, std::int64_t now, bool force, std::string& token) {
  const std::string path = oauth_token_path(a);
  // Load, refresh and save under the store's lock: a `popbox fetch login`
  // saving meanwhile waits, so neither loses the other's tokens.
  store::detail::UniqueFd lock;
  if (auto f = lock_store(path, lock)) return f;
  std::optional<StoredTokens> stored;
  FileStamp stamp;
  if (auto f = load_tokens(path, stored, &stamp)) return f;
  struct Wiper {
    std::optional<StoredTokens>& t;
    ~Wiper() {
      if (t) {
        wipe(t->access_token);
        wipe(t->refresh_token);
      }
    }
  } wiper{stored};
  if (!stored || (stored->refresh_token.empty() && stored->access_token.empty())) {
    return fail(fetch_errc::login_required,
                login_again(a, fmt::format("{}: not signed in (no tokens in {})", a.name, path)));
  }
  if (!force && !needs_refresh(*stored, now)) {
    token = stored->access_token;
    return {};
  }
  if (stored->refresh_token.empty()) {
    return fail(fetch_errc::login_required,
                login_again(a, fmt::format("{}: the access token expired and there is no "
                                           "refresh token",
                                           a.name)));
  }
  TokenReply reply;
  if (auto f = token_request(
          *a.oauth, {{"grant_type", "refresh_token"}, {"refresh_token", stored->refresh_token}},
          reply)) {
    return f;
  }
  if (!reply.ok) {
    if (reply.error == "invalid_grant") {
      // Revoked or expired: forget it, so `popbox fetch status` shows the
      // account as needing a login and no run asks again; unless the file
      // is no longer the one loaded (a login saved new tokens meanwhile).
      if (unchanged(path, stamp)) {
        if (auto f = save_tokens(path, StoredTokens{})) return f;
      }
      return fail(fetch_errc::login_required,
                  login_again(a, fmt::format("the provider refused the refresh token ({})",
                                             describe_error(reply))));
    }
    bool temporary = reply.error == "temporarily_unavailable" || reply.error == "server_error";
    return fail(temporary ? fetch_errc::temporary : fetch_errc::auth,
                fmt::format("refreshing the access token failed: {}", describe_error(reply)));
  }
  apply_reply(*stored, reply, now);
  wipe(reply.access_token);
  wipe(reply.refresh_token);
  if (auto f = save_tokens(path, *stored)) return f;
  token = stored->access_token;
  return {};
}

}  // namespace popbox::client::oauth
