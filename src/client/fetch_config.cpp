// Loading the fetch config with located errors.
#include "client/fetch_config.hpp"

#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <cstdlib>
#include <set>

#include "config/config.hpp"
#include "config/toml_file.hpp"
#include "core/base64.hpp"
#include "core/limits.hpp"

namespace popbox::client {
namespace {

using config::ConfigError;

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
    static const std::set<std::string_view> known{"name",    "host",     "port",
                                                  "tls",     "ca_file",  "fingerprint",
                                                  "user",    "password", "password_command",
                                                  "auth",    "keep",     "keep_days",
                                                  "deliver", "max_size", "state_dir",
                                                  "timeout", "poll"};
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
    a.host = required(t, "host");
    a.user = required(t, "user");
    if (auto tls = string(t, "tls")) {
      auto mode = parse_tls_mode(*tls);
      if (!mode) fail(t.get("tls"), "'tls' must be \"implicit\", \"starttls\" or \"none\"");
      a.tls = *mode;
    }
    a.port = a.tls == TlsMode::implicit ? 995 : 110;
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
