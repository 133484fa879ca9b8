// PKCE, token JSON and the device flow's decisions.
#include "client/oauth_token.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "client/auth.hpp"
#include "client/console.hpp"

#include "core/base64.hpp"
#include "core/limits.hpp"

namespace popbox::client::oauth {
namespace {

using nlohmann::json;

std::string base64url(std::string_view raw) {
  std::string s = core::base64_encode(raw);
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::string random_b64url(std::size_t octets) {
  ensure_sodium();
  std::string raw(octets, '\0');
  randombytes_buf(raw.data(), raw.size());
  std::string s = base64url(raw);
  wipe(raw);
  return s;
}

// A token or code is printable ASCII (RFC 6749 A.12: VSCHAR); anything
// else could smuggle a CRLF into a SASL line or a file.
bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool is_digit(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) != 0;
}

// An integer member that may come as a number (a fractional one is
// floored) or (some providers) a string; null counts as absent (0).
std::optional<std::int64_t> integer(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_number_float()) {
    double d = it->get<double>();
    if (!std::isfinite(d) || d < -1e15 || d > 1e15) return std::nullopt;
    return static_cast<std::int64_t>(std::floor(d));
  }
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    if (s.empty() || s.size() > 18 || !std::all_of(s.begin(), s.end(), is_digit)) {
      return std::nullopt;
    }
    return std::stoll(s);
  }
  return std::nullopt;
}

// A string member; null counts as absent ("").
std::optional<std::string> text(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::string();
  if (!it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

TokenReply invalid(std::string why) {
  TokenReply r;
  r.error = "invalid_response";
  r.error_description = std::move(why);
  return r;
}

std::int64_t clamp_wait(std::int64_t seconds) {
  return std::clamp<std::int64_t>(seconds, 1, limits::oauth_device_max_wait.count());
}

}  // namespace

void ensure_sodium() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] { ok = sodium_init() >= 0; });
  if (!ok) throw std::runtime_error("libsodium cannot initialise");
}

std::string make_code_verifier() {
  return random_b64url(32);
}

std::string make_state() {
  return random_b64url(16);
}

std::string code_challenge_s256(std::string_view verifier) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(verifier.data(), verifier.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  return base64url(std::string_view(reinterpret_cast<const char*>(digest), len));
}

TokenReply parse_token_reply(std::string_view body) {
  if (body.size() > limits::oauth_max_response) return invalid("the answer is too large");
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid("the answer is not a JSON object");
  // The parsed copy holds the tokens too: wiped whatever way this returns.
  struct Wiper {
    json& j;
    ~Wiper() { wipe_json(j); }
  } wiper{j};
  TokenReply r;
  auto error = text(j, "error");
  if (!error) return invalid("'error' is not a string");
  if (!error->empty()) {
    r.error = *error;
    r.error_description = text(j, "error_description").value_or("");
    if (!printable(r.error)) return invalid("'error' holds unprintable characters");
    return r;
  }
  auto access = text(j, "access_token");
  auto refresh = text(j, "refresh_token");
  auto type = text(j, "token_type");
  auto expires = integer(j, "expires_in");
  if (!access || !refresh || !type || !expires) return invalid("a member has the wrong type");
  if (access->empty()) return invalid("no access_token");
  if (!printable(*access) || !printable(*refresh)) {
    return invalid("a token holds characters outside printable ASCII");
  }
  std::string t = *type;
  std::transform(t.begin(), t.end(), t.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  if (!t.empty() && t != "bearer") return invalid("token_type is not Bearer");
  if (*expires < 0) return invalid("expires_in is negative");
  r.ok = true;
  r.access_token = std::move(*access);
  r.refresh_token = std::move(*refresh);
  r.expires_in = std::min<std::int64_t>(*expires, limits::oauth_max_expires_in.count());
  return r;
}

std::optional<DeviceAuthorization> parse_device_authorization(std::string_view body,
                                                              std::string& why) {
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    why = "the answer is not a JSON object";
    return std::nullopt;
  }
  if (auto e = text(j, "error"); e && !e->empty()) {
    TokenReply refused;
    refused.error = *e;
    refused.error_description = text(j, "error_description").value_or("");
    why = describe_error(refused);
    return std::nullopt;
  }
  DeviceAuthorization d;
  auto device = text(j, "device_code");
  auto user = text(j, "user_code");
  auto uri = text(j, "verification_uri");
  if (uri && uri->empty()) uri = text(j, "verification_url");  // Google's older spelling
  auto complete = text(j, "verification_uri_complete");
  auto expires = integer(j, "expires_in");
  auto interval = integer(j, "interval");
  if (!device || !user || !uri || !complete || !expires || !interval || device->empty() ||
      user->empty() || uri->empty() || !printable(*device) || !printable(*user) ||
      !printable(*uri) || !printable(*complete) || user->size() > limits::oauth_max_user_code ||
      uri->size() > limits::oauth_max_url || complete->size() > limits::oauth_max_url) {
    why = "device_code, user_code or verification_uri missing or malformed";
    return std::nullopt;
  }
  if (!uri->starts_with("https://") && !uri->starts_with("http://")) {
    why = "verification_uri is not an http(s) URL";
    return std::nullopt;
  }
  d.device_code = std::move(*device);
  d.user_code = *user;
  d.verification_uri = *uri;
  if (complete->starts_with("https://") || complete->starts_with("http://"))
    d.verification_uri_complete = *complete;
  d.expires_in = *expires > 0 ? *expires : 600;
  d.interval = *interval > 0 ? *interval : limits::oauth_device_interval.count();
  return d;
}

DevicePoll::DevicePoll(const DeviceAuthorization& auth, std::int64_t now)
    : interval_(
          clamp_wait(auth.interval > 0 ? auth.interval : limits::oauth_device_interval.count())),
      deadline_(now + clamp_wait(auth.expires_in)) {}

DevicePoll::Step DevicePoll::keep_waiting(std::int64_t now) {
  if (now + interval_ > deadline_) {
    message_ = "the code expired before the sign-in was approved; run the login again";
    return Step::failed;
  }
  return Step::wait;
}

DevicePoll::Step DevicePoll::on_transient_error(std::int64_t now) {
  // RFC 8628 3.5: a connection timeout doubles the interval.
  interval_ = clamp_wait(interval_ * 2);
  return keep_waiting(now);
}

DevicePoll::Step DevicePoll::on_reply(const TokenReply& reply, std::int64_t now) {
  if (reply.ok) return Step::done;
  if (reply.error == "authorization_pending" || reply.error == "slow_down") {
    if (reply.error == "slow_down") {
      interval_ = clamp_wait(interval_ + limits::oauth_slow_down_step.count());
    }
    return keep_waiting(now);
  }
  if (reply.error == "expired_token") {
    message_ = "the code expired before the sign-in was approved; run the login again";
  } else if (reply.error == "access_denied") {
    message_ = "the sign-in was denied";
  } else {
    message_ = "the provider refused the sign-in: " + describe_error(reply);
  }
  return Step::failed;
}

bool needs_refresh(const StoredTokens& t, std::int64_t now) {
  if (t.access_token.empty()) return true;
  if (t.expires_at == 0) return !t.refresh_token.empty();
  return t.expires_at - now < limits::oauth_refresh_margin.count();
}

void apply_reply(StoredTokens& t, const TokenReply& reply, std::int64_t now) {
  t.access_token = reply.access_token;
  if (!reply.refresh_token.empty()) t.refresh_token = reply.refresh_token;
  t.expires_at = reply.expires_in > 0 ? now + reply.expires_in : 0;
}

std::string describe_error(const TokenReply& reply) {
  std::string s = reply.error;
  if (!reply.error_description.empty()) s += " (" + reply.error_description + ")";
  // Made safe first (escapes lengthen it), then cut.
  if (s.size() > 4 * limits::oauth_max_error_text) s.resize(4 * limits::oauth_max_error_text);
  std::string safe = terminal_safe(s);
  for (char& c : safe) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  if (safe.size() > limits::oauth_max_error_text) {
    safe.resize(limits::oauth_max_error_text - 3);
    // Never half a UTF-8 character: drop the last one if it may be cut.
    while (!safe.empty() && (static_cast<unsigned char>(safe.back()) & 0xC0) == 0x80)
      safe.pop_back();
    if (!safe.empty() && static_cast<unsigned char>(safe.back()) >= 0xC0) safe.pop_back();
    safe += "...";
  }
  return safe;
}

void wipe_json(nlohmann::json& j) {
  if (j.is_string()) {
    wipe(j.get_ref<std::string&>());
  } else if (j.is_structured()) {
    for (auto& v : j) wipe_json(v);
  }
}

}  // namespace popbox::client::oauth
