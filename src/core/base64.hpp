#pragma once
// Strict base64 (RFC 4648, with padding), as SASL requires.

#include <optional>
#include <string>
#include <string_view>

namespace popbox::core {

/// Decodes standard base64 with padding; nullopt on any invalid input.
std::optional<std::string> base64_decode(std::string_view in);
/// Encodes to standard base64 with padding.
std::string base64_encode(std::string_view in);

}  // namespace popbox::core
