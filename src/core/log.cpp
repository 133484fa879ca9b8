#include "core/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace popbox::core {
namespace {

LogLevel from_spdlog(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return LogLevel::debug;
    case spdlog::level::info:
      return LogLevel::info;
    case spdlog::level::warn:
      return LogLevel::warn;
    default:
      return LogLevel::error;
  }
}

// The %* flag: the line's syslog priority, for the journal's stdout stream.
class PriorityFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const char* p = journal_prefix(from_spdlog(msg.level));
    dest.append(p, p + std::strlen(p));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<PriorityFlag>();
  }
};

spdlog::logger& logger() {
  // stderr, no colour codes: the output is for log files and journald.
  static auto instance = [] {
    auto l = spdlog::stderr_logger_mt("popbox");
    constexpr const char* pattern = "%Y-%m-%dT%H:%M:%S.%e %l %v";
    if (stderr_is_journal()) {
      auto f = std::make_unique<spdlog::pattern_formatter>();
      f->add_flag<PriorityFlag>('*').set_pattern(std::string("%*") + pattern);
      l->set_formatter(std::move(f));
    } else {
      l->set_pattern(pattern);
    }
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

const char* journal_prefix(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug:
      return "<7>";
    case LogLevel::info:
      return "<6>";
    case LogLevel::warn:
      return "<4>";
    case LogLevel::error:
      break;
  }
  return "<3>";
}

bool is_journal_stream(const char* journal_stream, unsigned long long dev,
                       unsigned long long ino) noexcept {
  if (journal_stream == nullptr) return false;
  std::string_view text(journal_stream);
  auto colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  unsigned long long want_dev = 0, want_ino = 0;
  const char* dev_end = text.data() + colon;
  auto [p1, e1] = std::from_chars(text.data(), dev_end, want_dev);
  if (e1 != std::errc() || p1 != dev_end || colon == 0) return false;
  const char* ino_begin = dev_end + 1;
  const char* end = text.data() + text.size();
  auto [p2, e2] = std::from_chars(ino_begin, end, want_ino);
  if (e2 != std::errc() || p2 != end || ino_begin == end) return false;
  return want_dev == dev && want_ino == ino;
}

bool stderr_is_journal() noexcept {
  struct stat st {};
  if (::fstat(2, &st) != 0) return false;
  return is_journal_stream(std::getenv("JOURNAL_STREAM"), st.st_dev, st.st_ino);
}

std::string log_escape(std::string_view value) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(value.size());
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    if (c > 0x20 && c < 0x7f && c != '"' && c != '=' && c != '\\') {
      out.push_back(ch);
    } else {
      out.append("\\x");
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xf]);
    }
  }
  return out;
}

void log(LogLevel level, std::string_view line) {
  logger().log(to_spdlog(level), "{}", line);
}

void set_log_level(LogLevel level) {
  logger().set_level(to_spdlog(level));
}

}  // namespace popbox::core
