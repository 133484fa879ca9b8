// Progress bar and messages of `popbox fetch`.
#include "client/console.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

#include "client/client_limits.hpp"

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

Console::Counters& Console::counters() {
  std::lock_guard lock(mutex_);
  return accounts_.emplace_back();
}

void Console::print(std::string_view line) {
  std::lock_guard lock(mutex_);
  std::string text;
  if (bar_shown_) text = "\r\033[K";  // clear the bar; the next tick redraws it
  bar_shown_ = false;
  text.append(line);
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
