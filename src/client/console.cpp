// Progress bar and messages of `popbox fetch`.
#include "client/console.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

#include "core/limits.hpp"

namespace popbox::client {

std::string human_bytes(double bytes) {
  static constexpr const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000 && u < 4) {
    bytes /= 1000;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[u]);
}

namespace {

// Length of the valid UTF-8 sequence at the start of `s` that is not a C1
// control (U+0080..U+009F), or 0.
std::size_t utf8_printable(std::string_view s) {
  auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  auto cont = [&](std::size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  unsigned char c = b(0);
  if (c >= 0xC2 && c <= 0xDF) return cont(1) && !(c == 0xC2 && b(1) < 0xA0) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;
    if (c == 0xF4 && b(1) >= 0x90) return 0;
    return 4;
  }
  return 0;
}

}  // namespace

std::string terminal_safe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    auto c = static_cast<unsigned char>(text.front());
    std::size_t n = 1;
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\t' || c == '\n' || (c >= 0x20 && c < 0x7F)) {
      out.push_back(static_cast<char>(c));
    } else if (c >= 0x80 && (n = utf8_printable(text)) > 0) {
      out.append(text.substr(0, n));
    } else {
      n = 1;
      out += fmt::format("\\x{:02x}", c);
    }
    text.remove_prefix(n);
  }
  return out;
}

Console::Counters& Console::counters() {
  std::lock_guard lock(mutex_);
  return accounts_.emplace_back();
}

void Console::print(std::string_view line) {
  std::lock_guard lock(mutex_);
  std::string text;
  if (bar_shown_) text = "\r\033[K";  // clear the bar; the next tick redraws it
  bar_shown_ = false;
  text.append(terminal_safe(line));
  text.push_back('\n');
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

void Console::info(std::string_view line) {
  if (!quiet_) print(line);
}

void Console::warn(std::string_view line) {
  if (!quiet_) print(line);
}

void Console::error(std::string_view line) {
  print(line);
}

void Console::tick() {
  if (!progress_ || quiet_) return;
  auto now = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_, std::try_to_lock);
  if (!lock || now - last_draw_ < limits::progress_interval) return;
  draw_locked(now);
}

void Console::draw_locked(std::chrono::steady_clock::time_point now) {
  last_draw_ = now;
  std::uint64_t mt = 0, md = 0, bt = 0, bd = 0;
  int active = 0;
  for (const auto& c : accounts_) {
    mt += c.messages_total;
    md += c.messages_done;
    bt += c.bytes_total;
    bd += c.bytes_done;
    active += c.active ? 1 : 0;
  }
  double seconds = std::chrono::duration<double>(now - started_).count();
  double rate = seconds > 0 ? static_cast<double>(bd) / seconds : 0;
  std::string eta = "--:--";
  if (rate > 0 && bt >= bd) {
    auto left = static_cast<std::uint64_t>(static_cast<double>(bt - bd) / rate);
    eta = fmt::format("{}:{:02}", left / 60, left % 60);
  }
  constexpr int width = 24;
  int filled = bt > 0 ? static_cast<int>(width * static_cast<double>(bd) / static_cast<double>(bt))
                      : (mt > 0 ? static_cast<int>(width * md / mt) : 0);
  filled = std::min(filled, width);
  std::string bar = fmt::format(
      "\r\033[K[{}{}] {}/{} msgs  {}/{}  {}/s  ETA {}  ({} account{})", std::string(filled, '#'),
      std::string(width - filled, '-'), md, mt, human_bytes(static_cast<double>(bd)),
      human_bytes(static_cast<double>(bt)), human_bytes(rate), eta, active, active == 1 ? "" : "s");
  std::fwrite(bar.data(), 1, bar.size(), stderr);
  std::fflush(stderr);
  bar_shown_ = true;
}

void Console::finish() {
  std::lock_guard lock(mutex_);
  if (bar_shown_) std::fwrite("\r\033[K", 1, 4, stderr);
  bar_shown_ = false;
}

}  // namespace popbox::client
