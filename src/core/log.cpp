#include "core/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace popbox::core {
namespace {

spdlog::logger& logger() {
  // stderr, no colour codes: the output is for log files and journald.
  static auto instance = [] {
    auto l = spdlog::stderr_logger_mt("popbox");
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
    l->flush_on(spdlog::level::info);
    return l;
  }();
  return *instance;
}

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::debug:
      return spdlog::level::debug;
    case LogLevel::info:
      return spdlog::level::info;
    case LogLevel::warn:
      return spdlog::level::warn;
    case LogLevel::error:
      break;
  }
  return spdlog::level::err;
}

}  // namespace

void log(LogLevel level, std::string_view line) {
  logger().log(to_spdlog(level), "{}", line);
}

void set_log_level(LogLevel level) {
  logger().set_level(to_spdlog(level));
}

}  // namespace popbox::core
