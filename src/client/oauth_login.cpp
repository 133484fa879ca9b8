// The sign-in flows of `popbox fetch login`: device grant and loopback
// authorization code with PKCE.
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>

#include "client/auth.hpp"
#include "client/oauth_flow.hpp"
#include "client/oauth_store.hpp"
#include "core/limits.hpp"
#include "metrics/http_server.hpp"

extern char** environ;

namespace popbox::client::oauth {
namespace {

std::string join_scopes(const OAuthConfig& c) {
  std::string s;
  for (const auto& scope : c.scopes) {
    if (!s.empty()) s += ' ';
    s += scope;
  }
  return s;
}

// Saves what a successful grant gave (under the store's lock, so a run
// refreshing meanwhile is not mixed in); a grant without a refresh token
// still works until the access token expires. Wipes the reply's tokens.
Failure save_grant(const AccountConfig& a, TokenReply& reply, const LoginIo& io) {
  StoredTokens t;
  apply_reply(t, reply, io.now());
  const bool no_refresh = reply.refresh_token.empty();
  wipe(reply.access_token);
  wipe(reply.refresh_token);
  store::detail::UniqueFd lock;
  Failure f = lock_store(oauth_token_path(a), lock);
  if (!f) f = save_tokens(oauth_token_path(a), t);
  wipe(t.access_token);
  wipe(t.refresh_token);
  if (f) return f;
  *io.out << fmt::format("{}: signed in; tokens saved in {}{}\n", a.name, oauth_token_path(a),
                         no_refresh ? " (no refresh token: sign in again when it expires)" : "");
  return {};
}

// The browser's redirect, handed from the listener's thread.
struct Redirect {
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  std::string code, error;
};

metrics::HttpReply on_redirect(const metrics::HttpRequest& req, const std::string& state,
                               Redirect& r) {
  metrics::HttpReply reply;
  reply.content_type = "text/plain; charset=utf-8";
  auto q = req.target.find('?');
  if (req.method != "GET" || req.target.substr(0, q) != "/") {
    reply.status = 404;
    reply.body = "not found\n";
    return reply;
  }
  Form query = parse_query(q == std::string::npos ? "" : req.target.substr(q + 1));
  std::string got_state, code, error;
  for (auto& [k, v] : query) {
    if (k == "state") got_state = v;
    if (k == "code") code = v;
    if (k == "error") error = v;
  }
  // RFC 6749 10.12: a redirect without our state is someone else's (CSRF);
  // it is answered and ignored, the real one may still come.
  if (got_state != state) {
    reply.status = 400;
    reply.body = "state does not match this sign-in; ignored\n";
    return reply;
  }
  std::lock_guard lock(r.mutex);
  if (r.done) {
    reply.status = 409;
    reply.body = "this sign-in is already finished\n";
    return reply;
  }
  r.done = true;
  if (code.empty()) {
    r.error = error.empty() ? std::string("no code in the redirect") : error;
    reply.status = 400;
    reply.body = "popbox: the sign-in failed; see the terminal\n";
  } else {
    r.code = std::move(code);
    reply.body = "popbox: signed in. You can close this window.\n";
  }
  r.cv.notify_all();
  return reply;
}

// Starts `command URL` without waiting for it; returns its pid or -1. The
// browser gets stdin/stdout/stderr only: not the listener's socket nor
// any other descriptor of ours.
pid_t open_browser(const std::string& url) {
  const char* custom = std::getenv("POPBOX_BROWSER");
  std::string program = custom && *custom ? custom : "xdg-open";
  std::string arg = url;
  char* argv[] = {program.data(), arg.data(), nullptr};
  posix_spawn_file_actions_t actions;
  if (::posix_spawn_file_actions_init(&actions) != 0) return -1;
  pid_t pid = -1;
  if (::posix_spawn_file_actions_addclosefrom_np(&actions, 3) != 0 ||
      ::posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv, environ) != 0) {
    pid = -1;
  }
  ::posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// The redirect URI the provider is told. RFC 8252 8.3 prefers the IP
// literal; Microsoft's app registration takes `http://localhost` (any
// port) without editing the manifest, so Microsoft gets that name. The
// listener binds 127.0.0.1 only either way.
std::string redirect_uri_for(const OAuthConfig& c, std::uint16_t port) {
  return fmt::format("http://{}:{}/", c.provider == "microsoft" ? "localhost" : "127.0.0.1", port);
}

}  // namespace

bool can_open_browser() {
  for (const char* v : {"POPBOX_BROWSER", "DISPLAY", "WAYLAND_DISPLAY"}) {
    const char* s = std::getenv(v);
    if (s && *s) return true;
  }
  return false;
}

Failure login_device(const AccountConfig& a, const LoginIo& io) {
  const OAuthConfig& c = *a.oauth;
  if (c.device_url.empty() && c.provider == "google") {
    return fail(fetch_errc::config,
                fmt::format("{}: Google does not allow the mail scope (https://mail.google.com/) "
                            "in its device flow; use `popbox fetch login --browser --account {}` "
                            "(on a machine without a browser: open the printed URL on another "
                            "one through `ssh -L`)",
                            a.name, a.name));
  }
  if (c.device_url.empty()) {
    return fail(fetch_errc::config,
                fmt::format("{}: no oauth_device_url: this provider has no device flow", a.name));
  }
  Form fields{{"client_id", c.client_id}, {"scope", join_scopes(c)}};
  if (!c.client_secret.empty()) fields.emplace_back("client_secret", c.client_secret);
  HttpAnswer answer;
  Failure posted = post_form(c.device_url, fields, c.ca_file, answer);
  for (auto& [key, value] : fields) wipe(value);
  if (posted) return posted;
  std::string why;
  auto dev = parse_device_authorization(answer.body, why);
  if (!dev) {
    return fail(fetch_errc::auth,
                fmt::format("device endpoint {} (HTTP {}): {}", c.device_url, answer.status, why));
  }
  std::ostream& out = *io.out;
  out << fmt::format("To sign in {}, open {} and enter the code {}\n", a.name,
                     dev->verification_uri, dev->user_code);
  if (!dev->verification_uri_complete.empty())
    out << fmt::format("or open {}\n", dev->verification_uri_complete);
  out << "Waiting for the sign-in to be approved...\n" << std::flush;
  DevicePoll poll(*dev, io.now());
  for (;;) {
    io.sleep(poll.interval());
    TokenReply reply;
    Failure f = token_request(c,
                              {{"grant_type", "urn:ietf:params:oauth:grant-type:device_code"},
                               {"device_code", dev->device_code}},
                              reply);
    DevicePoll::Step step;
    if (f && f.code == make_error_code(fetch_errc::temporary)) {
      step = poll.on_transient_error(io.now());
      if (step == DevicePoll::Step::wait) {
        out << fmt::format("{}: {}; trying again in {} s\n", a.name, f.message, poll.interval())
            << std::flush;
        continue;
      }
      return fail(fetch_errc::temporary, fmt::format("{}: {}", a.name, f.message));
    }
    if (f) return f;
    step = poll.on_reply(reply, io.now());
    switch (step) {
      case DevicePoll::Step::wait:
        continue;
      case DevicePoll::Step::failed:
        return fail(fetch_errc::auth, fmt::format("{}: {}", a.name, poll.message()));
      case DevicePoll::Step::done:
        return save_grant(a, reply, io);
    }
  }
}

Failure login_browser(const AccountConfig& a, const LoginIo& io) {
  const OAuthConfig& c = *a.oauth;
  if (c.authorize_url.empty()) {
    return fail(fetch_errc::config,
                fmt::format("{}: no oauth_authorize_url: use --device", a.name));
  }
  Redirect redirect;
  const std::string state = make_state();
  std::string verifier = make_code_verifier();
  metrics::HttpLimits limits;
  limits.max_connections = limits::oauth_redirect_connections;
  limits.header_limit = limits::oauth_redirect_header;
  limits.deadline = limits::oauth_redirect_deadline;
  // RFC 8252 7.3: the loopback IP literal, any free port, chosen now.
  metrics::HttpServer server("127.0.0.1", 0, limits, [&](const metrics::HttpRequest& req) {
    return on_redirect(req, state, redirect);
  });
  const std::string redirect_uri = redirect_uri_for(c, server.port());
  Form query{{"response_type", "code"},
             {"client_id", c.client_id},
             {"redirect_uri", redirect_uri},
             {"scope", join_scopes(c)},
             {"state", state},
             {"code_challenge", code_challenge_s256(verifier)},
             {"code_challenge_method", "S256"}};
  if (c.provider == "google") {  // Google sends a refresh token only when asked
    query.emplace_back("access_type", "offline");
    query.emplace_back("prompt", "consent");
  }
  std::string url = c.authorize_url + (c.authorize_url.find('?') == std::string::npos ? "?" : "&") +
                    form_encode(query);
  server.start();
  *io.out << fmt::format("To sign in {}, open this URL in a browser:\n{}\n", a.name, url);
  const bool open = io.open_browser && can_open_browser();
  if (!open) {
    *io.out << fmt::format(
        "Waiting for the browser's redirect to {} (for {} s).\n"
        "On another machine, forward the port first: ssh -L {}:127.0.0.1:{} THIS-HOST\n",
        redirect_uri, limits::oauth_redirect_timeout.count(), server.port(), server.port());
  }
  *io.out << std::flush;
  pid_t browser = open ? open_browser(url) : -1;
  {
    std::unique_lock lock(redirect.mutex);
    redirect.cv.wait_for(lock, limits::oauth_redirect_timeout, [&] { return redirect.done; });
  }
  server.stop();
  if (browser > 0) ::waitpid(browser, nullptr, WNOHANG);
  if (!redirect.done) {
    return fail(fetch_errc::temporary, fmt::format("{}: no answer from the browser within {} s",
                                                   a.name, limits::oauth_redirect_timeout.count()));
  }
  if (redirect.code.empty()) {
    TokenReply refused;
    refused.error = redirect.error;
    return fail(fetch_errc::auth,
                fmt::format("{}: the sign-in failed: {}", a.name, describe_error(refused)));
  }
  TokenReply reply;
  Failure f = token_request(c,
                            {{"grant_type", "authorization_code"},
                             {"code", redirect.code},
                             {"redirect_uri", redirect_uri},
                             {"code_verifier", verifier}},
                            reply);
  wipe(redirect.code);
  wipe(verifier);
  if (f) return f;
  if (!reply.ok) {
    return fail(fetch_errc::auth, fmt::format("{}: the provider refused the code: {}", a.name,
                                              describe_error(reply)));
  }
  return save_grant(a, reply, io);
}

}  // namespace popbox::client::oauth
