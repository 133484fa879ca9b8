// Loading the fetch config with located errors.
#include "client/fetch_config.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <pwd.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>

#include "config/config.hpp"
#include "config/toml_file.hpp"
#include "core/base64.hpp"
#include "core/ip_address.hpp"
#include "core/limits.hpp"

namespace popbox::client {
namespace {

using config::ConfigError;

// The providers' published endpoints (Google: developers.google.com/identity/
// protocols/oauth2; Microsoft identity platform v2.0) and POP3 hosts.
struct Preset {
  std::string_view name, authorize_url, token_url, device_url;
  std::array<std::string_view, 2> scopes;
  std::string_view host;
  std::uint16_t port;
};

constexpr std::array<Preset, 2> presets{{
    {"google",
     "https://accounts.google.com/o/oauth2/v2/auth",
     "https://oauth2.googleapis.com/token",
     "",  // Google's device flow refuses the https://mail.google.com/ scope
     {"https://mail.google.com/", ""},
     "pop.gmail.com",
     995},
    {"microsoft",
     "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
     "https://login.microsoftonline.com/common/oauth2/v2.0/token",
     "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode",
     {"https://outlook.office.com/POP.AccessAsUser.All", "offline_access"},
     "outlook.office365.com",
     995},
}};

// Empty when `path` holds at least one PEM certificate OpenSSL can load;
// else why not.
std::string check_ca_file(const std::string& path) {
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), &X509_STORE_free);
  if (!store) return "out of memory";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return "not a readable file";
  if (X509_STORE_load_file(store.get(), path.c_str()) != 1) {
    ERR_clear_error();
    return "holds no PEM certificate";
  }
  return {};
}

const Preset* find_preset(std::string_view name) {
  for (const auto& p : presets) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

class Loader {
 public:
  Loader(const std::filesystem::path& file, const std::string& home) : file_(file), home_(home) {}

  [[noreturn]] void fail(const toml::node* node, std::string_view what) const {
    if (node && node->source().begin) {
      throw ConfigError(fmt::format("{}:{}:{}: {}", file_.string(), node->source().begin.line,
                                    node->source().begin.column, what));
    }
    throw ConfigError(fmt::format("{}: {}", file_.string(), what));
  }

  std::optional<std::string> string(const toml::table& t, std::string_view key) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (!n->is_string()) fail(n, fmt::format("'{}' must be a string", key));
    return std::string(*n->value<std::string>());
  }

  std::string required(const toml::table& t, std::string_view key) const {
    auto s = string(t, key);
    if (!s || s->empty()) fail(&t, fmt::format("account needs a non-empty '{}'", key));
    return *s;
  }

  AccountConfig account(const toml::table& t) const {
    static const std::set<std::string_view> known{"name",
                                                  "host",
                                                  "port",
                                                  "tls",
                                                  "ca_file",
                                                  "fingerprint",
                                                  "user",
                                                  "password",
                                                  "password_command",
                                                  "auth",
                                                  "keep",
                                                  "keep_days",
                                                  "deliver",
                                                  "max_size",
                                                  "state_dir",
                                                  "timeout",
                                                  "poll",
                                                  "oauth",
                                                  "oauth_authorize_url",
                                                  "oauth_token_url",
                                                  "oauth_device_url",
                                                  "oauth_client_id",
                                                  "oauth_client_secret",
                                                  "oauth_scopes",
                                                  "oauth_ca_file"};
    for (const auto& [key, node] : t) {
      if (!known.contains(key.str()))
        fail(&node, fmt::format("unknown key '{}' in [[account]]", key.str()));
    }
    AccountConfig a;
    a.where = fmt::format("{}:{}", file_.string(), t.source().begin.line);
    a.name = required(t, "name");
    if (a.name.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
            std::string::npos ||
        a.name.front() == '.') {
      fail(t.get("name"), "'name' may only use letters, digits, '.', '_' and '-' (it names files)");
    }
    a.oauth = oauth(t);
    const Preset* preset = a.oauth ? find_preset(a.oauth->provider) : nullptr;
    if (preset && !t.get("host")) {
      a.host = preset->host;
    } else {
      a.host = required(t, "host");
    }
    a.user = required(t, "user");
    if (auto tls = string(t, "tls")) {
      auto mode = parse_tls_mode(*tls);
      if (!mode) fail(t.get("tls"), "'tls' must be \"implicit\", \"starttls\" or \"none\"");
      a.tls = *mode;
    }
    a.port = a.tls == TlsMode::implicit ? 995 : 110;
    if (preset && !t.get("port") && !t.get("tls")) a.port = preset->port;
    if (const toml::node* n = t.get("port")) {
      auto v = n->value<std::int64_t>();
      if (!n->is_integer() || *v < 1 || *v > 65535)
        fail(n, "'port' must be an integer in 1..65535");
      a.port = static_cast<std::uint16_t>(*v);
    }
    if (auto ca = string(t, "ca_file")) {
      a.ca_file = expand_home(*ca, home_);
      if (a.tls == TlsMode::none)
        fail(t.get("ca_file"), "'ca_file' needs tls = \"implicit\" or \"starttls\"");
    }
    if (auto fp = string(t, "fingerprint")) {
      auto raw = fp->starts_with("sha256:") ? core::base64_decode(fp->substr(7)) : std::nullopt;
      if (!raw || raw->size() != 32) {
        fail(t.get("fingerprint"),
             "'fingerprint' must be \"sha256:\" followed by the base64 of 32 bytes");
      }
      if (a.tls == TlsMode::none) fail(t.get("fingerprint"), "'fingerprint' needs TLS");
      a.fingerprint = core::base64_encode(*raw);
    }
    a.password = string(t, "password");
    a.password_command = string(t, "password_command");
    if (a.password && a.password_command) {
      fail(t.get("password_command"), "'password' and 'password_command' exclude each other");
    }
    if (auto auth = string(t, "auth")) {
      auto mech = parse_auth_mech(*auth);
      if (!mech) {
        fail(t.get("auth"),
             "'auth' must be auto, user, plain, login, apop, xoauth2 or oauthbearer");
      }
      a.auth = *mech;
    }
    check_oauth_auth(t, a);
    if (const toml::node* n = t.get("keep")) {
      if (!n->is_boolean()) fail(n, "'keep' must be true or false");
      a.keep = *n->value<bool>();
    }
    if (const toml::node* n = t.get("keep_days")) {
      auto v = n->value<std::int64_t>();
      if (!n->is_integer() || *v < 0 || *v > 100000)
        fail(n, "'keep_days' must be an integer in 0..100000");
      a.keep_days = static_cast<int>(*v);
    }
    std::string deliver = required(t, "deliver");
    std::string error;
    auto target = parse_target(deliver, home_, error);
    if (!target) fail(t.get("deliver"), fmt::format("'deliver': {}", error));
    a.deliver = std::move(*target);
    if (const toml::node* n = t.get("max_size")) {
      std::optional<std::uint64_t> size;
      if (n->is_integer() && *n->value<std::int64_t>() > 0) {
        size = static_cast<std::uint64_t>(*n->value<std::int64_t>());
      } else if (n->is_string()) {
        size = config::parse_size(*n->value<std::string>());
      }
      if (!size || *size == 0) fail(n, "'max_size' must be a size such as \"25M\"");
      a.max_size = size;
    }
    a.state_dir = expand_home(string(t, "state_dir").value_or(default_state_dir()), home_);
    if (const toml::node* n = t.get("timeout")) {
      std::optional<std::chrono::milliseconds> d;
      if (n->is_integer()) d = std::chrono::seconds(*n->value<std::int64_t>());
      if (n->is_string()) d = config::parse_duration(*n->value<std::string>());
      if (!d || d->count() <= 0) fail(n, "'timeout' must be a duration such as \"60s\"");
      a.timeout = *d;
    }
    a.poll = poll_;
    if (const toml::node* n = t.get("poll")) a.poll = poll(*n);
    return a;
  }

  // A poll interval: a duration string within limits::min_poll..max_poll.
  std::chrono::milliseconds poll(const toml::node& n) const {
    std::optional<std::chrono::milliseconds> d;
    if (n.is_string()) d = config::parse_duration(*n.value<std::string>());
    if (!d || *d < limits::min_poll || *d > limits::max_poll) {
      fail(&n, fmt::format("'poll' must be a duration from {}s to {}s, such as \"5m\"",
                           limits::min_poll.count(), limits::max_poll.count()));
    }
    return *d;
  }

  // The [fetch] table: settings of the whole run and the daemon
  // (daemon = bool, poll = duration: the accounts' default).
  void fetch_table(const toml::node& node, FetchConfig& cfg) {
    const toml::table* t = node.as_table();
    if (!t) fail(&node, "'fetch' must be a table ([fetch])");
    for (const auto& [key, value] : *t) {
      if (key.str() == "daemon") {
        if (!value.is_boolean()) fail(&value, "'daemon' must be true or false");
        cfg.daemon = *value.value<bool>();
      } else if (key.str() == "poll") {
        poll_ = cfg.poll = poll(value);
      } else if (key.str() == "max_messages_per_run") {
        auto v = value.value<std::int64_t>();
        if (!value.is_integer() || *v < 1 || *v > 100'000'000)
          fail(&value, "'max_messages_per_run' must be an integer in 1..100000000");
        cfg.max_messages_per_run = static_cast<std::size_t>(*v);
      } else {
        fail(&value, fmt::format("unknown key '{}' in [fetch]", key.str()));
      }
    }
  }

  // The oauth* keys: a preset filled in, then overridden key by key.
  std::optional<OAuthConfig> oauth(const toml::table& t) const {
    auto provider = string(t, "oauth");
    if (!provider) {
      for (const auto& [key, node] : t) {
        if (key.str().starts_with("oauth_"))
          fail(&node, fmt::format("'{}' needs 'oauth' (\"google\", \"microsoft\" or \"custom\")",
                                  key.str()));
      }
      return std::nullopt;
    }
    OAuthConfig o;
    o.provider = *provider;
    if (const Preset* p = find_preset(*provider)) {
      o.authorize_url = p->authorize_url;
      o.token_url = p->token_url;
      o.device_url = p->device_url;
      for (std::string_view s : p->scopes) {
        if (!s.empty()) o.scopes.emplace_back(s);
      }
    } else if (*provider != "custom") {
      fail(t.get("oauth"), "'oauth' must be \"google\", \"microsoft\" or \"custom\"");
    }
    for (auto [key, field] : {std::pair{"oauth_authorize_url", &o.authorize_url},
                              {"oauth_token_url", &o.token_url},
                              {"oauth_device_url", &o.device_url}}) {
      if (auto url = string(t, key)) {
        if (!url->starts_with("https://") || url->size() <= 8)
          fail(t.get(key), fmt::format("'{}' must be an https:// URL", key));
        *field = *url;
      }
    }
    o.client_id = string(t, "oauth_client_id").value_or("");
    o.client_secret = string(t, "oauth_client_secret").value_or("");
    if (auto ca = string(t, "oauth_ca_file")) {
      o.ca_file = expand_home(*ca, home_);
      if (std::string why = check_ca_file(o.ca_file); !why.empty())
        fail(t.get("oauth_ca_file"), fmt::format("'oauth_ca_file' {}: {}", o.ca_file, why));
    }
    if (const toml::node* n = t.get("oauth_scopes")) {
      const toml::array* arr = n->as_array();
      if (!arr) fail(n, "'oauth_scopes' must be an array of strings");
      o.scopes.clear();
      for (const auto& s : *arr) {
        auto v = s.value<std::string>();
        if (!s.is_string() || v->empty() || v->find(' ') != std::string::npos)
          fail(&s, "'oauth_scopes' must hold non-empty strings without spaces");
        o.scopes.push_back(*v);
      }
    }
    if (o.client_id.empty()) {
      fail(&t,
           "'oauth' needs 'oauth_client_id': register an application with the provider "
           "(docs/fetch.md, \"OAuth2 sign-in\")");
    }
    if (o.token_url.empty()) fail(&t, "'oauth = \"custom\"' needs 'oauth_token_url'");
    if (o.authorize_url.empty() && o.device_url.empty()) {
      fail(&t, "'oauth = \"custom\"' needs 'oauth_authorize_url' or 'oauth_device_url'");
    }
    return o;
  }

  // oauth needs an OAuth mechanism, and an OAuth mechanism needs a token
  // source: oauth, or password/password_command (a helper script's token).
  void check_oauth_auth(const toml::table& t, AccountConfig& a) const {
    bool oauth_mech = a.auth == AuthMech::xoauth2 || a.auth == AuthMech::oauthbearer;
    if (a.oauth && !t.get("auth")) {
      fail(&t, "'oauth' needs auth = \"xoauth2\" or \"oauthbearer\"");
    }
    if (a.oauth && !oauth_mech) {
      fail(t.get("auth"), "'oauth' needs auth = \"xoauth2\" or \"oauthbearer\"");
    }
    if (a.oauth && (a.password || a.password_command)) {
      fail(t.get("oauth"), "'oauth' and 'password' / 'password_command' exclude each other");
    }
    // A bearer token replays for its whole lifetime to whoever reads it:
    // never in clear text past this machine.
    auto ip = core::parse_ip(a.host);
    bool loopback = a.host == "localhost" || (ip && ip->is_loopback());
    if (a.oauth && a.tls == TlsMode::none && !loopback) {
      fail(t.get("tls"), "'oauth' needs TLS: tls = \"none\" only to a loopback host");
    }
  }

  std::string default_state_dir() const {
    const char* xdg = std::getenv("XDG_STATE_HOME");
    if (xdg && *xdg == '/') return std::string(xdg) + "/popbox";
    return "~/.local/state/popbox";
  }

 private:
  std::filesystem::path file_;
  std::string home_;
  std::chrono::milliseconds poll_{limits::default_poll};
};

}  // namespace

std::string home_dir() {
  if (const char* h = std::getenv("HOME"); h && *h) return h;
  if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_dir) return pw->pw_dir;
  return "/";
}

std::string oauth_token_path(const AccountConfig& a) {
  return a.state_dir + "/" + a.name + ".oauth.json";
}

FetchConfig load_fetch_config(const std::filesystem::path& file, const std::string& home) {
  Loader loader(file, home);
  toml::table root = config::parse_toml_file(file);
  FetchConfig cfg;
  cfg.source = file;
  cfg.poll = limits::default_poll;
  for (const auto& [key, node] : root) {
    if (key.str() == "fetch") {
      loader.fetch_table(node, cfg);  // before the accounts: its poll is their default
    } else if (key.str() != "account") {
      loader.fail(&node, fmt::format("unknown key '{}' (expected [[account]] tables)", key.str()));
    }
  }
  const toml::node* accounts = root.get("account");
  if (!accounts) loader.fail(nullptr, "no [[account]] defined");
  const toml::array* arr = accounts->as_array();
  if (!arr) loader.fail(accounts, "'account' must be written as [[account]] tables");
  std::set<std::string> names;
  for (const auto& item : *arr) {
    const toml::table* t = item.as_table();
    if (!t) loader.fail(&item, "'account' must be written as [[account]] tables");
    AccountConfig a = loader.account(*t);
    a.max_messages_per_run = cfg.max_messages_per_run;
    if (!names.insert(a.name).second) {
      loader.fail(t->get("name"), fmt::format("account name '{}' is used twice", a.name));
    }
    cfg.accounts.push_back(std::move(a));
  }
  return cfg;
}

}  // namespace popbox::client
