#pragma once
// The client messages of SCRAM (RFC 5802 section 7) as a pure parser. It
// checks the grammar only; what the values must be (nonce, binding data,
// proof) is checked by ScramServer.

#include <optional>
#include <string>
#include <string_view>

namespace popbox::auth {

/// Why a client message was refused.
enum class ScramParseError {
  malformed,  ///< not the RFC 5802 grammar
  extension,  ///< "m=" or an extension attribute: refused, none is supported
};

/// client-first-message = gs2-header client-first-message-bare.
struct ScramClientFirst {
  /// gs2-cbind-flag: "n" (no binding), "y" (client could bind but thinks the
  /// server cannot), "p=name" (binding of type `cb_name`).
  enum class Binding { none, client_only, used } binding = Binding::none;
  std::string cb_name;
  std::string authzid;     ///< "a=" value unescaped; empty if absent
  std::string user;        ///< "n=" value unescaped (=2C -> ',', =3D -> '=')
  std::string nonce;       ///< "r=" value
  std::string gs2_header;  ///< as sent, with its trailing ','
  std::string bare;        ///< client-first-message-bare as sent
};

/// client-final-message = channel-binding "," nonce "," proof.
struct ScramClientFinal {
  std::string channel_binding;  ///< "c=" value base64-decoded
  std::string nonce;            ///< "r=" value
  std::string proof;            ///< "p=" value base64-decoded
  std::string without_proof;    ///< client-final-message-without-proof as sent
};

/// A parse result: exactly one of value and error is set.
template <class T>
struct ScramParsed {
  std::optional<T> value;
  ScramParseError error = ScramParseError::malformed;
};

/// Parses a client-first-message.
ScramParsed<ScramClientFirst> parse_client_first(std::string_view msg);

/// Parses a client-final-message.
ScramParsed<ScramClientFinal> parse_client_final(std::string_view msg);

/// Decodes a saslname (=2C and =3D escapes); nullopt if empty or invalid.
std::optional<std::string> decode_saslname(std::string_view s);

}  // namespace popbox::auth
