#pragma once
// Reading a TOML file with errors that name the file, line and column; shared
// by the server's config and the fetch config.

#include <toml++/toml.h>
#include <filesystem>

namespace popbox::config {

/// Parses `file`; throws ConfigError ("FILE:LINE:COL: what") on a syntax
/// error or an unreadable file.
toml::table parse_toml_file(const std::filesystem::path& file);

}  // namespace popbox::config
