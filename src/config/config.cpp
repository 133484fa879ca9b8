#include "config/config.hpp"
#include "config/toml_file.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <charconv>
#include <set>

namespace popbox::config {

const std::vector<SectionKeys>& known_sections() {
  // The one list `load` checks every table against: add a key here, in
  // docs/configuration.md and in docs/man/popbox.toml.5.scd (a unit test
  // checks both documents).
  static const std::vector<SectionKeys> sections = {
      {"server",
       {"listen", "listen_tls", "hostname", "idle_timeout", "max_connections", "threads",
        "expire_days", "login_delay", "trusted_proxies", "user", "group"}},
      {"tls", {"cert", "key", "min_version"}},
      {"auth",
       {"source", "passwd_file", "allow_plaintext", "apop", "failure_delay", "username_format",
        "first_valid_uid", "scram_fake_secret_file", "cache_ttl", "cache_size"}},
      {"auth.oauth", {"issuer", "audience", "public_keys", "jwks_file", "user_claim"}},
      {"mail", {"maildir", "uidl_format", "uidl_adopt_x_uidl", "lock_file"}},
      {"store", {"backend", "dsn", "pool_size"}},
      {"log", {"level"}},
      {"quota", {"storage", "messages", "temporary"}},
      {"lmtp", {"listen", "unix", "max_message_size", "max_connections"}},
      {"deliver", {"return_path", "delivered_to"}},
      {"limits", {"login_timeout", "max_connections_per_ip", "auth_failures_per_ip"}},
      {"admin", {"socket", "group"}},
      {"metrics", {"listen"}},
  };
  return sections;
}

std::vector<std::string> known_keys() {
  std::vector<std::string> out;
  for (const SectionKeys& s : known_sections()) {
    for (std::string_view key : s.keys) out.push_back(fmt::format("{}.{}", s.name, key));
  }
  return out;
}

namespace {

// Formats "file:line:col: message" for a node (or just the file).
[[noreturn]] void fail(const Config& cfg, const toml::node* node, std::string_view what) {
  if (node && node->source().begin) {
    throw ConfigError(fmt::format("{}:{}:{}: {}", cfg.source.string(), node->source().begin.line,
                                  node->source().begin.column, what));
  }
  throw ConfigError(fmt::format("{}: {}", cfg.source.string(), what));
}

// Rejects keys this version does not know: a typo must not pass silently.
// The keys come from known_sections(); subsections (auth.oauth in [auth],
// every section at the top level) are keys of their parent too.
void only_keys(const Config& cfg, const toml::table& table, std::string_view section) {
  std::set<std::string_view> known;
  for (const SectionKeys& s : known_sections()) {
    if (s.name == section) known.insert(s.keys.begin(), s.keys.end());
    const std::size_t dot = s.name.rfind('.');
    const std::string_view parent = dot == std::string_view::npos ? "" : s.name.substr(0, dot);
    if (parent == section) known.insert(s.name.substr(parent.empty() ? 0 : dot + 1));
  }
  const std::string where = section.empty() ? "the top level" : fmt::format("[{}]", section);
  for (const auto& [key, node] : table) {
    if (!known.contains(key.str())) {
      fail(cfg, &node, fmt::format("unknown key '{}' in {}", key.str(), where));
    }
  }
}

std::string get_string(const Config& cfg, const toml::table& t, std::string_view key,
                       std::string fallback) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  if (!n->is_string()) fail(cfg, n, fmt::format("'{}' must be a string", key));
  return std::string(*n->value<std::string>());
}

bool get_bool(const Config& cfg, const toml::table& t, std::string_view key, bool fallback) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  if (!n->is_boolean()) fail(cfg, n, fmt::format("'{}' must be true or false", key));
  return *n->value<bool>();
}

std::int64_t get_int(const Config& cfg, const toml::table& t, std::string_view key,
                     std::int64_t fallback, std::int64_t min, std::int64_t max) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  if (!n->is_integer()) fail(cfg, n, fmt::format("'{}' must be an integer", key));
  std::int64_t v = *n->value<std::int64_t>();
  if (v < min || v > max) fail(cfg, n, fmt::format("'{}' must be in {}..{}", key, min, max));
  return v;
}

std::chrono::milliseconds get_duration(const Config& cfg, const toml::table& t,
                                       std::string_view key, std::chrono::milliseconds fallback) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  std::optional<std::chrono::milliseconds> d;
  if (n->is_integer()) {
    d = parse_duration(std::to_string(*n->value<std::int64_t>()));  // seconds, range-checked
  } else if (n->is_string()) {
    d = parse_duration(*n->value<std::string>());
  }
  if (!d || d->count() < 0) {
    fail(cfg, n, fmt::format("'{}' must be a duration such as \"30s\", \"10m\" or \"1h\"", key));
  }
  return *d;
}

std::vector<Endpoint> get_endpoints(const Config& cfg, const toml::table& t, std::string_view key,
                                    std::vector<Endpoint> fallback) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  const toml::array* arr = n->as_array();
  if (!arr) fail(cfg, n, fmt::format("'{}' must be an array of \"address:port\" strings", key));
  std::vector<Endpoint> out;
  for (const auto& item : *arr) {
    auto s = item.value<std::string>();
    auto ep = s ? parse_endpoint(*s) : std::nullopt;
    if (!ep) fail(cfg, &item, fmt::format("'{}': expected \"address:port\"", key));
    out.push_back(*ep);
  }
  return out;
}

std::string default_hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

void load_server(Config& cfg, const toml::table& t) {
  only_keys(cfg, t, "server");
  auto& s = cfg.server;
  s.listen = get_endpoints(cfg, t, "listen", {{"0.0.0.0", 110}});
  s.listen_tls = get_endpoints(cfg, t, "listen_tls", {});
  s.hostname = get_string(cfg, t, "hostname", default_hostname());
  s.user = get_string(cfg, t, "user", "");
  s.group = get_string(cfg, t, "group", "");
  if (!s.group.empty() && s.user.empty()) fail(cfg, t.get("group"), "'group' needs 'user'");
  s.idle_timeout = get_duration(cfg, t, "idle_timeout", s.idle_timeout);
  if (s.idle_timeout.count() == 0) fail(cfg, t.get("idle_timeout"), "'idle_timeout' must be > 0");
  s.max_connections =
      static_cast<std::size_t>(get_int(cfg, t, "max_connections", 10000, 1, 1'000'000));
  s.threads = static_cast<unsigned>(get_int(cfg, t, "threads", 0, 0, 256));
  if (const toml::node* n = t.get("trusted_proxies")) {
    const toml::array* arr = n->as_array();
    if (!arr) fail(cfg, n, "'trusted_proxies' must be an array of \"address/prefix\" strings");
    for (const auto& item : *arr) {
      auto text = item.value<std::string>();
      auto net = text ? core::parse_cidr(*text) : std::nullopt;
      if (!net) {
        fail(cfg, &item,
             "'trusted_proxies': expected a network such as \"10.0.0.0/8\" or \"::1/128\"");
      }
      s.trusted_proxies.push_back(*net);
    }
  }
  if (const toml::node* n = t.get("expire_days")) {
    if (n->is_string() && *n->value<std::string>() == "never") {
      s.expire_days = -1;
    } else {
      s.expire_days = static_cast<int>(get_int(cfg, t, "expire_days", 0, 0, 100000));
    }
  }
  if (t.get("login_delay")) {
    auto d = get_duration(cfg, t, "login_delay", {});
    if (d > std::chrono::hours(24 * 365)) {
      fail(cfg, t.get("login_delay"), "'login_delay' must be at most a year");
    }
    s.login_delay_seconds =
        static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
  }
}

// A path, or an array of paths (one certificate per key type: ECDSA and RSA).
std::vector<std::filesystem::path> get_paths(const Config& cfg, const toml::table& t,
                                             std::string_view key) {
  std::vector<std::filesystem::path> out;
  const toml::node* n = t.get(key);
  if (!n) fail(cfg, &t, fmt::format("[tls] needs '{}'", key));
  if (n->is_string()) {
    out.emplace_back(*n->value<std::string>());
  } else if (const toml::array* arr = n->as_array()) {
    for (const auto& item : *arr) {
      auto path = item.value<std::string>();
      if (!path || path->empty()) fail(cfg, &item, fmt::format("'{}' entries must be paths", key));
      out.emplace_back(*path);
    }
  }
  if (out.empty() || out.front().empty()) {
    fail(cfg, n, fmt::format("'{}' must be a path or a non-empty array of paths", key));
  }
  return out;
}

void load_tls(Config& cfg, const toml::table& t) {
  only_keys(cfg, t, "tls");
  auto& tls = cfg.tls;
  tls.enabled = true;
  tls.certs = get_paths(cfg, t, "cert");
  tls.keys = get_paths(cfg, t, "key");
  if (tls.certs.size() != tls.keys.size()) {
    fail(cfg, t.get("key"), "'cert' and 'key' must name as many files, paired in order");
  }
  tls.cert = tls.certs.front();
  tls.key = tls.keys.front();
  tls.min_version = get_string(cfg, t, "min_version", "1.2");
  if (tls.min_version != "1.2" && tls.min_version != "1.3") {
    fail(cfg, t.get("min_version"), "'min_version' must be \"1.2\" or \"1.3\"");
  }
}

// [auth.oauth]: the key files are only named here; auth::load_oauth_keys
// reads them (at start, on SIGHUP and in `popbox check`).
void load_oauth(Config& cfg, const toml::table& t) {
  only_keys(cfg, t, "auth.oauth");
  OAuthConfig o;
  o.issuer = get_string(cfg, t, "issuer", "");
  if (o.issuer.empty()) fail(cfg, &t, "[auth.oauth] needs 'issuer'");
  o.audience = get_string(cfg, t, "audience", "");
  if (o.audience.empty()) fail(cfg, &t, "[auth.oauth] needs 'audience'");
  o.user_claim = get_string(cfg, t, "user_claim", o.user_claim);
  if (o.user_claim.empty()) fail(cfg, t.get("user_claim"), "'user_claim' is empty");
  if (const toml::node* n = t.get("public_keys")) {
    const toml::array* arr = n->as_array();
    if (!arr || arr->empty()) fail(cfg, n, "'public_keys' must be a non-empty array of paths");
    for (const auto& item : *arr) {
      auto path = item.value<std::string>();
      if (!path || path->empty()) fail(cfg, &item, "'public_keys' entries must be paths");
      o.public_keys.emplace_back(*path);
    }
  }
  o.jwks_file = get_string(cfg, t, "jwks_file", "");
  if (o.public_keys.empty() == o.jwks_file.empty()) {
    fail(cfg, &t, "[auth.oauth] needs exactly one of 'public_keys' and 'jwks_file'");
  }
  cfg.auth.oauth = std::move(o);
}

void load_auth(Config& cfg, const toml::table& t) {
  only_keys(cfg, t, "auth");
  auto& a = cfg.auth;
  std::string source = get_string(cfg, t, "source", "passwd-file");
  if (source == "passwd-file") {
    a.source = UserSource::passwd_file;
  } else if (source == "postgres") {
    a.source = UserSource::postgres;
  } else {
    fail(cfg, t.get("source"), "'source' must be \"passwd-file\" or \"postgres\"");
  }
  a.passwd_file = get_string(cfg, t, "passwd_file", "");
  a.scram_fake_secret_file = get_string(cfg, t, "scram_fake_secret_file", "");
  std::string plain = get_string(cfg, t, "allow_plaintext", "loopback");
  if (plain == "never") {
    a.allow_plaintext = Plaintext::never;
  } else if (plain == "loopback") {
    a.allow_plaintext = Plaintext::loopback;
  } else if (plain == "always") {
    a.allow_plaintext = Plaintext::always;
  } else {
    fail(cfg, t.get("allow_plaintext"),
         "'allow_plaintext' must be \"never\", \"loopback\" or \"always\"");
  }
  a.apop = get_bool(cfg, t, "apop", false);
  a.failure_delay = get_duration(cfg, t, "failure_delay", a.failure_delay);
  a.username_format = get_string(cfg, t, "username_format", "%Lu");
  if (a.username_format != "%Lu" && a.username_format != "%u") {
    fail(cfg, t.get("username_format"), "'username_format' must be \"%Lu\" or \"%u\"");
  }
  a.first_valid_uid =
      static_cast<unsigned>(get_int(cfg, t, "first_valid_uid", a.first_valid_uid, 1, UINT32_MAX));
  a.cache_ttl = get_duration(cfg, t, "cache_ttl", a.cache_ttl);
  a.cache_size = static_cast<std::size_t>(
      get_int(cfg, t, "cache_size", static_cast<std::int64_t>(a.cache_size), 0, 10'000'000));
  if (const toml::node* n = t.get("oauth")) {
    if (!n->is_table()) fail(cfg, n, "'oauth' must be an [auth.oauth] section");
    load_oauth(cfg, *n->as_table());
  }
}

std::uint64_t get_size(const Config& cfg, const toml::table& t, std::string_view key,
                       std::uint64_t fallback) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  std::optional<std::uint64_t> v;
  if (n->is_integer() && *n->value<std::int64_t>() >= 0) {
    v = static_cast<std::uint64_t>(*n->value<std::int64_t>());
  } else if (n->is_string()) {
    v = parse_size(*n->value<std::string>());
  }
  if (!v) fail(cfg, n, fmt::format("'{}' must be a size such as \"50M\" or a byte count", key));
  return *v;
}

void load_quota(Config& cfg, const toml::table& t) {
  only_keys(cfg, t, "quota");
  cfg.quota.storage = get_size(cfg, t, "storage", 0);
  cfg.quota.messages = static_cast<std::uint64_t>(get_int(cfg, t, "messages", 0, 0, INT64_MAX));
  cfg.quota.temporary = get_bool(cfg, t, "temporary", false);
}

void load_lmtp(Config& cfg, const toml::table& t) {
  only_keys(cfg, t, "lmtp");
  cfg.lmtp.max_connections =
      static_cast<std::size_t>(get_int(cfg, t, "max_connections", 1000, 1, 1'000'000));
  cfg.lmtp.listen = get_endpoints(cfg, t, "listen", {});
  cfg.lmtp.unix_path = get_string(cfg, t, "unix", "");
  cfg.lmtp.max_message_size = get_size(cfg, t, "max_message_size", cfg.lmtp.max_message_size);
  if (cfg.lmtp.max_message_size == 0) {
    fail(cfg, t.get("max_message_size"), "'max_message_size' must be > 0");
  }
}

void load_limits(Config& cfg, const toml::table& t) {
  only_keys(cfg, t, "limits");
  auto& l = cfg.limits;
  l.login_timeout = get_duration(cfg, t, "login_timeout", l.login_timeout);
  if (l.login_timeout.count() == 0) {
    fail(cfg, t.get("login_timeout"), "'login_timeout' must be > 0");
  }
  l.max_connections_per_ip =
      static_cast<std::size_t>(get_int(cfg, t, "max_connections_per_ip", 20, 1, 1'000'000));
  l.auth_failures_per_ip =
      static_cast<std::size_t>(get_int(cfg, t, "auth_failures_per_ip", 50, 1, 1'000'000));
}

void load_store(Config& cfg, const toml::table& t) {
  only_keys(cfg, t, "store");
  std::string backend = get_string(cfg, t, "backend", "maildir");
  if (backend == "maildir") {
    cfg.store.backend = StoreBackend::maildir;
  } else if (backend == "postgres") {
    cfg.store.backend = StoreBackend::postgres;
  } else {
    fail(cfg, t.get("backend"), "'backend' must be \"maildir\" or \"postgres\"");
  }
  cfg.store.dsn = get_string(cfg, t, "dsn", "");
  if (cfg.store.backend == StoreBackend::postgres && cfg.store.dsn.empty()) {
    fail(cfg, t.get("backend"), "backend = \"postgres\" needs 'dsn' (a libpq connection string)");
  }
  cfg.store.pool_size = static_cast<std::size_t>(get_int(cfg, t, "pool_size", 16, 1, 1024));
}

}  // namespace

std::string AuthConfig::canonical_user(std::string_view typed) const {
  std::string user(typed);
  if (username_format == "%Lu") {
    for (char& c : user) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return user;
}

toml::table parse_toml_file(const std::filesystem::path& file) {
  try {
    return toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    if (!where) throw ConfigError(fmt::format("{}: {}", file.string(), e.description()));
    throw ConfigError(
        fmt::format("{}:{}:{}: {}", file.string(), where.line, where.column, e.description()));
  }
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::int64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || ptr == text.data() || n < 0) return std::nullopt;
  std::string_view unit(ptr, text.data() + text.size() - ptr);
  std::int64_t ms_per_unit = 0;
  if (unit == "ms") {
    ms_per_unit = 1;
  } else if (unit.empty() || unit == "s") {
    ms_per_unit = 1000;
  } else if (unit == "m") {
    ms_per_unit = 60'000;
  } else if (unit == "h") {
    ms_per_unit = 3'600'000;
  } else if (unit == "d") {
    ms_per_unit = 86'400'000;
  } else {
    return std::nullopt;
  }
  // Durations beyond ~100 years are typos, and their milliseconds would overflow.
  constexpr std::int64_t max_ms = 100ll * 365 * 86'400'000;
  if (n > max_ms / ms_per_unit) return std::nullopt;
  return std::chrono::milliseconds(n * ms_per_unit);
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || ptr == text.data()) return std::nullopt;
  std::string_view unit(ptr, text.data() + text.size() - ptr);
  int shift = 0;
  if (unit == "K" || unit == "k") {
    shift = 10;
  } else if (unit == "M") {
    shift = 20;
  } else if (unit == "G") {
    shift = 30;
  } else if (!unit.empty()) {
    return std::nullopt;
  }
  if (shift && n > (UINT64_MAX >> shift)) return std::nullopt;
  return n << shift;
}

std::optional<Endpoint> parse_endpoint(std::string_view text) {
  Endpoint ep;
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon), port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return std::nullopt;  // IPv6 needs brackets
  }
  if (host == "*") host = "0.0.0.0";
  if (host.empty()) return std::nullopt;
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || p > 65535) return std::nullopt;
  ep.host = std::string(host);
  ep.port = static_cast<std::uint16_t>(p);
  return ep;
}

Config load(const std::filesystem::path& file) {
  Config cfg;
  cfg.source = file;
  toml::table root = parse_toml_file(file);
  only_keys(cfg, root, "");
  auto section = [&](std::string_view name) -> const toml::table* {
    const toml::node* n = root.get(name);
    if (n && !n->is_table()) fail(cfg, n, fmt::format("'{}' must be a [{}] section", name, name));
    return n ? n->as_table() : nullptr;
  };
  static const toml::table empty;
  load_server(cfg, section("server") ? *section("server") : empty);
  if (auto* t = section("tls")) load_tls(cfg, *t);
  if (cfg.tls.enabled && !root.at_path("server.listen_tls")) {
    cfg.server.listen_tls = {{"0.0.0.0", 995}};
  }
  if (!cfg.tls.enabled && !cfg.server.listen_tls.empty()) {
    fail(cfg, root.at_path("server.listen_tls").node(), "'listen_tls' needs a [tls] section");
  }
  load_auth(cfg, section("auth") ? *section("auth") : empty);
  load_store(cfg, section("store") ? *section("store") : empty);
  if (cfg.auth.source == UserSource::passwd_file && cfg.auth.passwd_file.empty()) {
    fail(cfg, nullptr, "[auth] passwd_file is required");
  }
  if (cfg.auth.source == UserSource::postgres && cfg.store.dsn.empty()) {
    fail(cfg, root.at_path("auth.source").node(), "[auth] source = \"postgres\" needs [store] dsn");
  }
  if (auto* m = section("mail")) {
    only_keys(cfg, *m, "mail");
    cfg.mail.maildir = get_string(cfg, *m, "maildir", "");
    cfg.mail.uidl_format = get_string(cfg, *m, "uidl_format", "popbox");
    if (cfg.mail.uidl_format.empty()) fail(cfg, m->get("uidl_format"), "'uidl_format' is empty");
    cfg.mail.uidl_adopt_x_uidl = get_bool(cfg, *m, "uidl_adopt_x_uidl", false);
  }
  if (const toml::node* n = root.at_path("mail.lock_file").node()) {
    if (!n->is_string()) fail(cfg, n, "'lock_file' must be a string");
    cfg.mail.lock_file = n->as_string()->get();
  }
  if (auto* q = section("quota")) load_quota(cfg, *q);
  if (auto* l = section("lmtp")) load_lmtp(cfg, *l);
  if (auto* l = section("limits")) load_limits(cfg, *l);
  if (auto* d = section("deliver")) {
    only_keys(cfg, *d, "deliver");
    cfg.deliver.return_path = get_bool(cfg, *d, "return_path", true);
    cfg.deliver.delivered_to = get_bool(cfg, *d, "delivered_to", true);
  }
  if (cfg.store.backend == StoreBackend::maildir && cfg.mail.maildir.empty()) {
    fail(cfg, nullptr, "[mail] maildir is required");
  }
  if (auto* a = section("admin")) {
    only_keys(cfg, *a, "admin");
    cfg.admin.socket = get_string(cfg, *a, "socket", "");
    if (!cfg.admin.socket.empty() && cfg.admin.socket.front() != '/') {
      fail(cfg, a->get("socket"), "'socket' must be an absolute path");
    }
    cfg.admin.group = get_string(cfg, *a, "group", "");
  }
  if (auto* m = section("metrics")) {
    only_keys(cfg, *m, "metrics");
    if (const toml::node* n = m->get("listen")) {
      if (!n->is_string()) fail(cfg, n, "'listen' must be a string such as \"127.0.0.1:9110\"");
      cfg.metrics.listen = parse_endpoint(n->as_string()->get());
      if (!cfg.metrics.listen) fail(cfg, n, "'listen' must be an address:port");
    }
  }
  if (auto* l = section("log")) {
    only_keys(cfg, *l, "log");
    cfg.log_level = get_string(cfg, *l, "level", "info");
    if (cfg.log_level != "debug" && cfg.log_level != "info" && cfg.log_level != "warn" &&
        cfg.log_level != "error") {
      fail(cfg, l->get("level"), "'level' must be debug, info, warn or error");
    }
  }
  return cfg;
}

}  // namespace popbox::config
