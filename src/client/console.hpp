#pragma once
// Everything `popbox fetch` shows on the terminal: a progress bar on stderr
// (messages, bytes, rate, ETA) when it is a terminal or --progress says so,
// one summary line per account otherwise, only errors with --quiet.
// Shared by the account threads.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>

namespace popbox::client {

class Console {
 public:
  /// What one account has planned and done, for the bar.
  struct Counters {
    std::atomic<std::uint64_t> messages_total{0}, messages_done{0};
    std::atomic<std::uint64_t> bytes_total{0}, bytes_done{0};
    std::atomic<bool> active{false};
  };

  /// `progress`: draw the bar; `quiet`: errors only.
  Console(bool progress, bool quiet) : progress_(progress), quiet_(quiet) {}

  /// Counters for a new account (stable address for the whole run).
  Counters& counters();
  /// An informational line (summaries, dry-run listings); not with --quiet.
  void info(std::string_view line);
  /// A warning; not with --quiet.
  void warn(std::string_view line);
  /// An error; always shown.
  void error(std::string_view line);
  /// Redraws the bar if it is on and due.
  void tick();
  /// Removes the bar at the end of the run.
  void finish();
  /// True with --quiet.
  bool quiet() const noexcept { return quiet_; }

 private:
  void print(std::string_view line);
  void draw_locked(std::chrono::steady_clock::time_point now);

  bool progress_, quiet_;
  std::mutex mutex_;
  std::deque<Counters> accounts_;
  bool bar_shown_ = false;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_draw_{};
};

/// `text` safe for a terminal: control bytes (C0 but tab and newline, DEL,
/// C1) and bytes that are not UTF-8 become `\xHH`, a backslash `\\`. Server
/// text (-ERR replies, event data) may hold escape sequences.
std::string terminal_safe(std::string_view text);

/// "12.3 MB" style size for people.
std::string human_bytes(double bytes);

}  // namespace popbox::client
