#include "net/pop3_login.hpp"

#include <chrono>
#include <optional>
#include <string_view>
#include <system_error>

#include "core/limits.hpp"
#include "metrics/server_metrics.hpp"
#include "net/blocking.hpp"
#include "store/owned_mailbox.hpp"

namespace popbox::net::detail {

namespace {

// A bearer token: valid, naming `user` (canonicalised like the login name),
// and `user` has an entry (it gives the mailbox). `detail` says why not.
auth::AuthResult verify_oauth(ServerState& st, const std::string& user, std::string_view token,
                              std::string& detail) {
  if (!st.oauth) return auth::AuthResult::bad_credentials;
  std::string claimed;
  if (auto ec = st.oauth->validate(token, claimed)) {
    detail = ec.message();
    return auth::AuthResult::bad_credentials;
  }
  if (st.cfg.auth.canonical_user(claimed) != user) {
    detail = "token names another user";
    return auth::AuthResult::bad_credentials;
  }
  std::error_code ec;
  if (!st.auth.lookup(user, ec)) {
    detail = ec ? "cannot look up the user: " + ec.message() : "unknown user";
    return ec ? auth::AuthResult::temp_failure : auth::AuthResult::bad_credentials;
  }
  return auth::AuthResult::ok;
}

}  // namespace

auth::AuthResult verify_blocking(ServerState& st, const std::string& user,
                                 const pop3::Credentials& creds, const std::string& apop_timestamp,
                                 std::string& detail) {
  switch (creds.kind) {
    case pop3::Credentials::Kind::scram:
      // The session checked the SCRAM proof against scram_lookup()'s secret.
      return creds.verified ? auth::AuthResult::ok : auth::AuthResult::bad_credentials;
    case pop3::Credentials::Kind::password:
      return st.auth.verify_password(user, creds.secret);
    case pop3::Credentials::Kind::oauth:
      return verify_oauth(st, user, creds.secret, detail);
    case pop3::Credentials::Kind::apop:
      break;
  }
  return st.auth.verify_apop(user, apop_timestamp, creds.secret);
}

asio::awaitable<std::shared_ptr<const auth::UserInfo>> cached_login(
    ServerState& st, const std::string& user, const pop3::Credentials& creds) {
  // APOP answers a per-session challenge and SCRAM/OAuth carry no password:
  // only plain passwords are ever cached.
  if (creds.kind != pop3::Credentials::Kind::password || !st.auth.cache_enabled()) {
    co_return nullptr;
  }
  // An edited passwd-file must empty the cache as soon as it would have
  // changed a full check: the stat (and any reread) may block, so it runs
  // on the auth pool, once a second for all sessions.
  if (st.auth.claim_recheck()) {
    auth::Authenticator* users = &st.auth;
    co_await run_blocking(st.auth_pool, [users] { users->recheck(); });
  }
  auto entry = st.auth.cached_login(user, creds.secret);
  metrics::server().auth_cache(entry != nullptr);
  co_return entry;
}

LoginResult open_blocking(ServerState& st, const std::string& user, const auth::UserInfo* info) {
  using pop3::LoginOutcome;
  if (auto delay = st.cfg.server.login_delay_seconds) {
    if (!st.login_delay.admit(user, std::chrono::seconds(*delay))) {
      return {LoginOutcome::login_delay, nullptr, ""};
    }
  }
  std::error_code ec;
  store::OpenRequest req{user, std::nullopt};
  // The entry's uid/gid own the Maildir: all its I/O is made with them.
  std::optional<auth::UserInfo> looked_up;
  if (info == nullptr && (looked_up = st.auth.lookup(user, ec))) info = &*looked_up;
  if (info != nullptr) {
    req.owner = store::entry_owner(info->uid, info->gid, st.cfg.auth.first_valid_uid, ec);
  }
  std::unique_ptr<store::Mailbox> mailbox;
  if (!ec) mailbox = st.store->open(req, ec);
  if (ec == store::failure::in_use) {
    metrics::server().maildrop_in_use();
    return {LoginOutcome::in_use, nullptr, ""};
  }
  // Problems an operator must fix are permanent for the client (RFC 3206):
  // retrying will not help until then.
  if (ec == store::failure::permanent) return {LoginOutcome::perm_failure, nullptr, ec.message()};
  if (ec || !mailbox) return {LoginOutcome::temp_failure, nullptr, ec.message()};
  return {LoginOutcome::ok, std::move(mailbox), ""};
}

AuthTicket::AuthTicket(ServerState& st, const std::string& key)
    : st_(st), slot_(st.auth_per_ip, key, limits::auth_per_ip_concurrency) {
  if (!slot_) return;
  if (st_.auth_queued.fetch_add(1) >= limits::auth_queue_depth) {
    --st_.auth_queued;
    return;
  }
  granted_ = true;
}

AuthTicket::~AuthTicket() {
  if (granted_) --st_.auth_queued;
}

const char* outcome_name(pop3::LoginOutcome o) {
  switch (o) {
    case pop3::LoginOutcome::ok:
      return "ok";
    case pop3::LoginOutcome::bad_credentials:
      return "bad_credentials";
    case pop3::LoginOutcome::in_use:
      return "in_use";
    case pop3::LoginOutcome::login_delay:
      return "login_delay";
    case pop3::LoginOutcome::perm_failure:
      return "perm_failure";
    case pop3::LoginOutcome::temp_failure:
      break;
  }
  return "temp_failure";
}

}  // namespace popbox::net::detail
