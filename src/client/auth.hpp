#pragma once
// Pure helpers for the client's authentication: what the server offers,
// which mechanism `auth = "auto"` picks, and the bytes each mechanism sends.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/types.hpp"

namespace popbox::client {

/// What the server said in its CAPA reply (RFC 2449).
struct Capabilities {
  bool known = false;  ///< CAPA answered +OK
  bool user = false;
  bool stls = false;
  bool pipelining = false;
  bool uidl = false;
  std::vector<std::string> sasl;  ///< mechanism names, upper case

  /// Records one line of the CAPA listing.
  void add_line(std::string_view line);
  /// True when SASL `mech` (upper case) is listed.
  bool has_sasl(std::string_view mech) const;
};

/// The mechanism to use: `configured` unless it is `automatic`, in which
/// case the strongest offered over this link. Over TLS: PLAIN, LOGIN, USER,
/// then APOP; without TLS APOP comes first (the password never crosses the
/// wire). OAuth mechanisms are never picked automatically (they need a
/// token, not a password). nullopt when nothing usable is offered.
std::optional<AuthMech> choose_auth(AuthMech configured, const Capabilities& caps,
                                    bool apop_offered, bool secure);

/// The APOP timestamp ("<...@...>") of a greeting line, if there is one.
std::optional<std::string> greeting_timestamp(std::string_view greeting);
/// The APOP digest: lower-case hex MD5 of timestamp + password (RFC 1939).
std::string apop_digest(std::string_view timestamp, std::string_view password);
/// SASL PLAIN message: "\0user\0password" (RFC 4616), base64.
std::string sasl_plain(std::string_view user, std::string_view password);
/// XOAUTH2 message: "user=U\x01auth=Bearer T\x01\x01", base64.
std::string sasl_xoauth2(std::string_view user, std::string_view token);
/// OAUTHBEARER message (RFC 7628): GS2 header, host, port, bearer token, base64.
std::string sasl_oauthbearer(std::string_view user, std::string_view host, std::uint16_t port,
                             std::string_view token);

/// Overwrites a secret in memory before it is released.
void wipe(std::string& secret) noexcept;

}  // namespace popbox::client
