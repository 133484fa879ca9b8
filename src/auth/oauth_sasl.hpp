#pragma once
// The client messages of SASL OAUTHBEARER (RFC 7628) and XOAUTH2 (Google,
// Microsoft), and the server's error challenge. Pure code: no I/O.

#include <optional>
#include <string>
#include <string_view>

namespace popbox::auth {

/// What an OAuth SASL message carries.
struct BearerMessage {
  std::string user;   ///< the a= authzid (OAUTHBEARER) or user= (XOAUTH2)
  std::string token;  ///< the bearer token after "auth=Bearer "
};

/// Decodes "n,a=USER,^Akey=value^A...auth=Bearer TOKEN^A^A" (RFC 7628
/// 3.1; `y` also accepted, channel binding `p=` refused). The authzid is
/// required (it names the mailbox). nullopt when malformed.
std::optional<BearerMessage> parse_oauthbearer(std::string_view msg);
/// Decodes "user=USER^Aauth=Bearer TOKEN^A^A"; nullopt when malformed.
std::optional<BearerMessage> parse_xoauth2(std::string_view msg);
/// The JSON error of RFC 7628 3.2.2 (and XOAUTH2), sent base64 in a "+ "
/// continuation: {"status":"invalid_token","schemes":"bearer","scope":SCOPE}.
std::string oauth_error_challenge(std::string_view scope);

}  // namespace popbox::auth
