#pragma once
// Structured logging without pulling spdlog into every translation unit.
// One line per event: `key=value` pairs that grep and log shippers can read.

#include <string>
#include <string_view>

namespace popbox::core {

enum class LogLevel { debug, info, warn, error };

/// Writes one log line to stderr (thread-safe).
void log(LogLevel level, std::string_view line);
/// Lowest level written; the default is info.
void set_log_level(LogLevel level);

/// Makes a client-supplied string safe as a log value: every byte that is
/// not printable ASCII (controls, DEL, >= 0x80), and space, '"', '=' and
/// '\\', is written as `\xNN` (two lower-case hex digits), so a value can
/// neither fake a key=value pair or a log line nor send terminal escapes,
/// and the original bytes can be read back.
std::string log_escape(std::string_view value);

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
