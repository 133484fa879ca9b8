#pragma once
// The OpenAPI 3.1 document of the API (src/sandbox/openapi/*.json, embedded
// at build time).

#include <string_view>

namespace popbox::sandbox::api {

/// The whole document: the parts in src/sandbox/openapi/ joined (once).
std::string_view openapi_document();

}  // namespace popbox::sandbox::api
