#pragma once
// Strict base64 (RFC 4648, with padding), as SASL requires.

#include <optional>
#include <string>
#include <string_view>

namespace popbox::core {

/// Decodes standard base64 with padding; nullopt for anything but the one
/// canonical spelling: a byte outside A-Z a-z 0-9 + /, whitespace, a length
/// not a multiple of four, '=' other than as the last one or two, or
/// non-zero bits before the padding.
std::optional<std::string> base64_decode(std::string_view in);
/// Encodes to standard base64 with padding.
std::string base64_encode(std::string_view in);

}  // namespace popbox::core
