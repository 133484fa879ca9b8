#pragma once
// The sandbox's web UI (the other files of this directory), embedded in the
// binary at build time by cmake/embed_assets.cmake, so `popbox sandbox` is
// one file. The HTTP layer serves them at / and /assets/<name> without a
// token; the UI then talks to /api/v1 like any other client.

#include <span>
#include <string_view>

namespace popbox::sandbox {

/// One embedded file: its exact bytes and the Content-Type to send.
struct WebAsset {
  std::string_view content_type;  ///< e.g. "text/javascript; charset=utf-8"
  std::string_view body;
};

/// The Content-Security-Policy every HTML response of the UI carries: no
/// inline scripts or styles, nothing from other origins, never framed.
inline constexpr std::string_view web_ui_csp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'";

/// The asset at a request path ("/" or "/index.html" for the page,
/// "/assets/app.js" ...; the path alone, without a query), or nullptr.
/// Exact match only: "/assets/../x" and unknown names answer nullptr.
const WebAsset* find_web_asset(std::string_view path);

/// Every path find_web_asset() answers, in a stable order.
std::span<const std::string_view> web_asset_paths();

}  // namespace popbox::sandbox
