#pragma once
// Reply classification shared by the halves of the client session.

#include <string_view>

namespace popbox::client::detail {

/// "+OK" or "+OK text" (case-insensitive status indicator).
bool is_ok(std::string_view line) noexcept;
/// "-ERR" or "-ERR text".
bool is_err(std::string_view line) noexcept;
/// A SASL continuation: "+" or "+ data".
bool is_continuation(std::string_view line) noexcept;
/// The response code in "-ERR [CODE] text" (RFC 2449), or "".
std::string_view response_code(std::string_view line) noexcept;

}  // namespace popbox::client::detail
