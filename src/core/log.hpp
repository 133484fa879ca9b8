#pragma once
// Structured logging without pulling spdlog into every translation unit.
// One line per event: `key=value` pairs that grep and log shippers can read.

#include <string>
#include <string_view>

namespace popbox::core {

enum class LogLevel { debug, info, warn, error };

/// Writes one log line to stderr (thread-safe), prefixed with its syslog
/// priority when stderr is the journal (see stderr_is_journal).
void log(LogLevel level, std::string_view line);
/// Lowest level written; the default is info.
void set_log_level(LogLevel level);

/// Makes a client-supplied string safe as a log value: every byte that is
/// not printable ASCII (controls, DEL, >= 0x80), and space, '"', '=' and
/// '\\', is written as `\xNN` (two lower-case hex digits), so a value can
/// neither fake a key=value pair or a log line nor send terminal escapes,
/// and the original bytes can be read back.
std::string log_escape(std::string_view value);

/// systemd's SyslogLevelPrefix for `level`: "<3>" error, "<4>" warn,
/// "<6>" info, "<7>" debug (the syslog priorities of sd-daemon(3)).
const char* journal_prefix(LogLevel level) noexcept;

/// True when `journal_stream` (the JOURNAL_STREAM variable, "DEV:INODE" in
/// decimal; may be null) names the file with device `dev` and inode `ino`,
/// i.e. that file (stderr) is the service manager's journal stream.
bool is_journal_stream(const char* journal_stream, unsigned long long dev,
                       unsigned long long ino) noexcept;

/// True when stderr is connected to the journal (JOURNAL_STREAM matches
/// fstat of fd 2); log lines then start with journal_prefix().
bool stderr_is_journal() noexcept;

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
