// Mechanism choice and SASL message construction for the POP3 client.
#include "client/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>

#include "core/base64.hpp"

namespace popbox::client {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

void Capabilities::add_line(std::string_view line) {
  auto sp = line.find(' ');
  std::string keyword = upper(line.substr(0, sp));
  std::string_view args = sp == std::string_view::npos ? "" : line.substr(sp + 1);
  if (keyword == "USER") user = true;
  if (keyword == "STLS") stls = true;
  if (keyword == "PIPELINING") pipelining = true;
  if (keyword == "UIDL") uidl = true;
  if (keyword == "SASL") {
    while (!args.empty()) {
      auto end = args.find(' ');
      std::string_view mech = args.substr(0, end);
      if (!mech.empty()) sasl.push_back(upper(mech));
      args = end == std::string_view::npos ? "" : args.substr(end + 1);
    }
  }
}

bool Capabilities::has_sasl(std::string_view mech) const {
  return std::find(sasl.begin(), sasl.end(), mech) != sasl.end();
}

std::optional<AuthMech> choose_auth(AuthMech configured, const Capabilities& caps,
                                    bool apop_offered, bool secure) {
  if (configured != AuthMech::automatic) return configured;
  // Without CAPA the server may still take USER (RFC 1939 servers).
  bool user_ok = caps.user || !caps.known;
  if (!secure && apop_offered) return AuthMech::apop;
  if (caps.has_sasl("PLAIN")) return AuthMech::plain;
  if (caps.has_sasl("LOGIN")) return AuthMech::login;
  if (user_ok) return AuthMech::user;
  if (apop_offered) return AuthMech::apop;
  return std::nullopt;
}

std::optional<std::string> greeting_timestamp(std::string_view greeting) {
  auto close = greeting.rfind('>');
  if (close == std::string_view::npos) return std::nullopt;
  auto open = greeting.rfind('<', close);
  if (open == std::string_view::npos) return std::nullopt;
  std::string_view ts = greeting.substr(open, close - open + 1);
  // RFC 1939: a msg-id; it holds an '@' and nothing outside 0x21..0x7e.
  if (ts.find('@') == std::string_view::npos || ts.size() < 4) return std::nullopt;
  for (char c : ts) {
    if (c < 0x21 || c > 0x7e) return std::nullopt;
  }
  return std::string(ts);
}

std::string apop_digest(std::string_view timestamp, std::string_view password) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_md5(), nullptr);
  EVP_DigestUpdate(ctx, timestamp.data(), timestamp.size());
  EVP_DigestUpdate(ctx, password.data(), password.size());
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 15]);
  }
  return out;
}

std::string sasl_plain(std::string_view user, std::string_view password) {
  std::string msg;
  msg.push_back('\0');
  msg.append(user);
  msg.push_back('\0');
  msg.append(password);
  std::string out = core::base64_encode(msg);
  wipe(msg);
  return out;
}

namespace {

// Both OAuth mechanisms end in "auth=Bearer TOKEN" and two ^A (RFC 7628).
std::string bearer_message(std::string msg, std::string_view token) {
  // Split literal: "\x01a..." would read as the single escape \x01a.
  msg.append(
         "\x01"
         "auth=Bearer ")
      .append(token)
      .append("\x01\x01");
  std::string out = core::base64_encode(msg);
  wipe(msg);
  return out;
}

}  // namespace

std::string sasl_xoauth2(std::string_view user, std::string_view token) {
  return bearer_message("user=" + std::string(user), token);
}

std::string sasl_oauthbearer(std::string_view user, std::string_view host, std::uint16_t port,
                             std::string_view token) {
  // gs2-header "n,a=USER," with ',' and '=' in the name escaped (RFC 5801).
  std::string msg = "n,a=";
  for (char c : user) {
    if (c == ',') {
      msg += "=2C";
    } else if (c == '=') {
      msg += "=3D";
    } else {
      msg += c;
    }
  }
  msg.append(",\x01host=").append(host).append("\x01port=").append(std::to_string(port));
  return bearer_message(std::move(msg), token);
}

void wipe(std::string& secret) noexcept {
  OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

}  // namespace popbox::client
