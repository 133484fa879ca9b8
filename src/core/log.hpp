#pragma once
// Structured logging without pulling spdlog into every translation unit.
// One line per event: `key=value` pairs that grep and log shippers can read.

#include <string_view>

namespace popbox::core {

enum class LogLevel { debug, info, warn, error };

/// Writes one log line to stderr (thread-safe).
void log(LogLevel level, std::string_view line);
/// Lowest level written; the default is info.
void set_log_level(LogLevel level);

inline void log_info(std::string_view line) {
  log(LogLevel::info, line);
}
inline void log_warn(std::string_view line) {
  log(LogLevel::warn, line);
}
inline void log_error(std::string_view line) {
  log(LogLevel::error, line);
}

}  // namespace popbox::core
