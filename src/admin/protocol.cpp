#include "admin/protocol.hpp"

#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/limits.hpp"

namespace popbox::admin {

using nlohmann::json;

namespace {

struct VerbEntry {
  const char* name;
  Verb verb;
};
constexpr VerbEntry verbs[] = {{"who", Verb::who},
                               {"kick", Verb::kick},
                               {"mailbox_stat", Verb::mailbox_stat},
                               {"expunge", Verb::expunge},
                               {"reload", Verb::reload}};

// A user name as the passwd-file has them: not empty, no control bytes.
bool valid_user(const std::string& u) {
  if (u.empty() || u.size() > limits::max_user_name) return false;
  for (unsigned char c : u) {
    if (c < 0x21 || c == 0x7F || c == ':') return false;
  }
  return true;
}

// The string member `key`, if present; false (and `error` set) if it has
// another type.
bool get_string(const json& j, const char* key, std::string& out, std::string& error) {
  auto it = j.find(key);
  if (it == j.end()) return true;
  if (!it->is_string()) {
    error = std::string("\"") + key + "\" must be a string";
    return false;
  }
  out = it->get<std::string>();
  return true;
}

bool get_bool(const json& j, const char* key, bool& out, std::string& error) {
  auto it = j.find(key);
  if (it == j.end()) return true;
  if (!it->is_boolean()) {
    error = std::string("\"") + key + "\" must be true or false";
    return false;
  }
  out = it->get<bool>();
  return true;
}

std::optional<Request> fail(std::string& error, std::string why) {
  error = std::move(why);
  return std::nullopt;
}

}  // namespace

const char* verb_name(Verb v) noexcept {
  for (const auto& e : verbs) {
    if (e.verb == v) return e.name;
  }
  return "?";
}

std::optional<Request> parse_request(std::string_view text, std::string& error) {
  if (text.size() > limits::admin_max_request) return fail(error, "request too long");
  // A NUL never belongs in JSON text (and the parser may stop at one).
  if (text.find('\0') != std::string_view::npos) return fail(error, "request is not JSON");
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) return fail(error, "request is not JSON");
  if (!j.is_object()) return fail(error, "request is not a JSON object");
  std::string verb;
  if (!get_string(j, "verb", verb, error)) return std::nullopt;
  Request r;
  bool known = false;
  for (const auto& e : verbs) {
    if (verb == e.name) {
      r.verb = e.verb;
      known = true;
    }
  }
  if (!known) return fail(error, verb.empty() ? "no verb" : "unknown verb");
  for (const auto& [key, value] : j.items()) {
    static constexpr const char* allowed[] = {"verb", "user",       "session",
                                              "all",  "older_than", "dry_run"};
    bool ok = false;
    for (const char* a : allowed) ok = ok || key == a;
    if (!ok) return fail(error, "unknown member \"" + key.substr(0, 64) + "\"");
  }
  if (!get_string(j, "user", r.user, error) || !get_bool(j, "all", r.all, error) ||
      !get_bool(j, "dry_run", r.dry_run, error)) {
    return std::nullopt;
  }
  if (auto it = j.find("session"); it != j.end()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0) {
      return fail(error, "\"session\" must be a positive integer");
    }
    r.session = it->get<std::uint64_t>();
  }
  if (auto it = j.find("older_than"); it != j.end()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0 ||
        it->get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return fail(error, "\"older_than\" must be a positive number of seconds");
    }
    r.older_than = static_cast<std::int64_t>(it->get<std::uint64_t>());
  }
  const bool has_user = j.contains("user");
  if (has_user && !valid_user(r.user)) return fail(error, "invalid user name");
  switch (r.verb) {
    case Verb::who:
    case Verb::reload:
      if (has_user || r.session || r.all || r.older_than || r.dry_run) {
        return fail(error, std::string(verb_name(r.verb)) + " takes no arguments");
      }
      break;
    case Verb::kick:
      if (has_user == r.session.has_value()) return fail(error, "kick needs a user or a session");
      if (r.all || r.older_than || r.dry_run) return fail(error, "kick takes a user or a session");
      break;
    case Verb::mailbox_stat:
      if (!has_user) return fail(error, "mailbox_stat needs a user");
      if (r.session || r.all || r.older_than || r.dry_run) {
        return fail(error, "mailbox_stat takes a user only");
      }
      break;
    case Verb::expunge:
      if (has_user == r.all) return fail(error, "expunge needs a user or all");
      if (r.older_than == 0) return fail(error, "expunge needs older_than");
      if (r.session) return fail(error, "expunge takes no session");
      break;
  }
  return r;
}

std::string format_request(const Request& request) {
  json j = {{"verb", verb_name(request.verb)}};
  switch (request.verb) {
    case Verb::who:
    case Verb::reload:
      break;
    case Verb::kick:
      if (request.session) {
        j["session"] = *request.session;
      } else {
        j["user"] = request.user;
      }
      break;
    case Verb::mailbox_stat:
      j["user"] = request.user;
      break;
    case Verb::expunge:
      if (request.all) {
        j["all"] = true;
      } else {
        j["user"] = request.user;
      }
      j["older_than"] = request.older_than;
      j["dry_run"] = request.dry_run;
      break;
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string error_reply(std::string_view message) {
  json j = {{"ok", false}, {"error", std::string(message)}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::optional<std::int64_t> parse_age(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  std::int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    case 'w':
      unit = 7 * 86400;
      break;
    default:
      return std::nullopt;
  }
  std::string_view digits = text.substr(0, text.size() - 1);
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || end != digits.data() + digits.size() || n <= 0) return std::nullopt;
  if (n > std::numeric_limits<std::int64_t>::max() / unit) return std::nullopt;
  return n * unit;
}

}  // namespace popbox::admin
