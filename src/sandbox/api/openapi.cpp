// Joins the OpenAPI document's parts, kept apart in the repository so that
// each resource's paths and the shared schemas read on their own.

#include "sandbox/api/openapi.hpp"

#include <nlohmann/json.hpp>
#include <string>

namespace popbox::sandbox::api {
namespace openapi_parts {
std::string_view document();
std::string_view schemas();
std::string_view paths_inboxes();
std::string_view paths_messages();
std::string_view paths_service();
}  // namespace openapi_parts

std::string_view openapi_document() {
  static const std::string joined = [] {
    using nlohmann::ordered_json;
    namespace p = openapi_parts;
    ordered_json doc = ordered_json::parse(p::document());
    doc["components"]["schemas"] = ordered_json::parse(p::schemas());
    ordered_json& paths = doc["paths"];
    for (std::string_view part : {p::paths_inboxes(), p::paths_messages(), p::paths_service()}) {
      const ordered_json parsed = ordered_json::parse(part);  // outlives the loop
      for (const auto& [path, item] : parsed.items()) paths[path] = item;
    }
    return doc.dump(2) + "\n";
  }();
  return joined;
}

}  // namespace popbox::sandbox::api
