// The fetch daemon: scheduling, signals, reload.
#include "client/daemon.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <poll.h>
#include <signal.h>
#include <sysexits.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <list>
#include <map>
#include <memory>
#include <random>
#include <thread>

#include "core/limits.hpp"

namespace popbox::client {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Signal handlers only set these and write a byte to the self-pipe.
int wake_fds[2] = {-1, -1};
std::atomic<bool> stop_requested{false};
std::atomic<int> stop_signals{0};
std::atomic<bool> reload_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<int>::is_always_lock_free);

void wake() {
  char b = 1;
  [[maybe_unused]] auto n = ::write(wake_fds[1], &b, 1);  // full pipe: already awake
}

extern "C" void on_signal(int sig) {
  int saved = errno;
  if (sig == SIGHUP) {
    reload_requested = true;
  } else {
    stop_requested = true;
    if (stop_signals.fetch_add(1) >= 1) ::_exit(EX_TEMPFAIL);  // the second one: now
  }
  wake();
  errno = saved;
}

bool install_signals(std::string& error) {
  if (wake_fds[0] < 0 && ::pipe2(wake_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    error = fmt::format("pipe: {}", std::strerror(errno));
    return false;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGHUP, SIGTERM, SIGINT}) ::sigaction(sig, &sa, nullptr);
  return true;
}

void drain_wake() {
  char buf[64];
  while (::read(wake_fds[0], buf, sizeof buf) > 0) {
  }
}

std::string quote_value(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c == '\n' || c == '\r' ? ' ' : c);
  }
  return out + "\"";
}

struct Run {
  std::string name;
  std::shared_ptr<const AccountConfig> config;
  std::thread thread;
  std::atomic<bool> done{false};
  AccountOutcome outcome;
};

struct Slot {
  std::shared_ptr<const AccountConfig> config;
  Clock::time_point due;
  int failures = 0;
  bool running = false;
  bool removed = false;  // gone from the config while running
};

class Daemon {
 public:
  Daemon(FetchConfig config, const DaemonOptions& o, Console& console)
      : config_(std::move(config)), o_(o), console_(console), rng_(std::random_device{}()) {}

  int run() {
    std::string error;
    if (!install_signals(error)) {
      console_.error("popbox fetch: " + error);
      return EX_OSERR;
    }
    if (int rc = adopt(config_, true)) return rc;
    console_.info(fmt::format("popbox fetch: daemon started: {} account{}, --jobs {}",
                              slots_.size(), slots_.size() == 1 ? "" : "s", o_.fetch.jobs));
    if (o_.ready) o_.ready(fmt::format("polling {} accounts", slots_.size()));
    for (;;) {
      reap();
      if (stop_requested) {
        announce_stop();
        if (runs_.empty()) break;
      } else {
        if (reload_requested.exchange(false)) reload();
        start_due();
      }
      wait();
    }
    console_.info("popbox fetch: daemon stopped");
    return EX_OK;
  }

 private:
  // Takes the accounts of `cfg` (after --account); 0, or the exit code.
  int adopt(const FetchConfig& cfg, bool first) {
    const auto& wanted = o_.fetch.accounts;
    for (const auto& name : wanted) {
      bool known = std::any_of(cfg.accounts.begin(), cfg.accounts.end(),
                               [&](const AccountConfig& a) { return a.name == name; });
      if (!known) {
        std::string msg =
            fmt::format("popbox fetch: no account named \"{}\" in {}", name, cfg.source.string());
        if (first) {
          console_.error(msg);
          return EX_CONFIG;
        }
        console_.warn(msg);
      }
    }
    auto now = Clock::now();
    std::vector<std::string> added, kept, removed;
    std::map<std::string, bool> present;
    for (const auto& a : cfg.accounts) {
      if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), a.name) == wanted.end()) {
        continue;
      }
      present[a.name] = true;
      auto it = slots_.find(a.name);
      auto ptr = std::make_shared<const AccountConfig>(a);
      if (it == slots_.end()) {
        slots_[a.name] = Slot{ptr, now, 0, false, false};
        order_.push_back(a.name);
        added.push_back(a.name);
        continue;
      }
      Slot& s = it->second;
      if (s.config->poll != a.poll && !s.running) {
        s.due = std::min(s.due, now + next_delay(a.poll, s.failures));
      }
      kept.push_back(a.name);
      s.config = ptr;
      s.removed = false;
    }
    for (auto it = slots_.begin(); it != slots_.end();) {
      if (present.contains(it->first)) {
        ++it;
        continue;
      }
      removed.push_back(it->first);
      if (it->second.running) {
        it->second.removed = true;  // reap() drops it
        ++it;
      } else {
        std::erase(order_, it->first);
        it = slots_.erase(it);
      }
    }
    if (!first) {
      auto list = [](const std::vector<std::string>& v) {
        return v.empty() ? std::string("-") : fmt::format("{}", fmt::join(v, ","));
      };
      console_.info(
          fmt::format("popbox fetch: reloaded {}: {} accounts, added={} removed={} kept={}",
                      cfg.source.string(), slots_.size() - count_removed(), list(added),
                      list(removed), list(kept)));
    }
    return 0;
  }

  std::size_t count_removed() const {
    return static_cast<std::size_t>(std::count_if(slots_.begin(), slots_.end(),
                                                  [](const auto& s) { return s.second.removed; }));
  }

  void reload() {
    if (o_.reloading) o_.reloading();
    try {
      FetchConfig fresh = load_fetch_config(o_.config_file, o_.fetch.home);
      adopt(fresh, false);
      config_ = std::move(fresh);
    } catch (const std::exception& e) {
      console_.error(
          fmt::format("popbox fetch: SIGHUP: keeping the old configuration: {}", e.what()));
    }
    if (o_.ready) o_.ready(fmt::format("polling {} accounts", slots_.size()));
  }

  // Starts due accounts, earliest first, while fewer than --jobs run.
  void start_due() {
    auto now = Clock::now();
    while (runs_.size() < o_.fetch.jobs) {
      Slot* best = nullptr;
      std::string best_name;
      for (const auto& name : order_) {
        Slot& s = slots_.at(name);
        if (s.running || s.removed || s.due > now) continue;
        if (!best || s.due < best->due) {
          best = &s;
          best_name = name;
        }
      }
      if (!best) return;
      best->running = true;
      auto run = std::make_unique<Run>();
      run->name = best_name;
      run->config = best->config;
      FetchOptions fo = o_.fetch;
      if (!o_.fixed_now) fo.now = static_cast<std::int64_t>(std::time(nullptr));
      Run* r = run.get();
      bool quiet = console_.quiet();
      r->thread = std::thread([r, fo, quiet] {
        Console console(false, quiet);  // its own counters, freed with the run
        r->outcome = run_account(*r->config, fo, console, &stop_requested);
        r->done = true;
        wake();
      });
      runs_.push_back(std::move(run));
    }
  }

  // Joins finished runs, schedules their next run, reports and records it.
  void reap() {
    for (auto it = runs_.begin(); it != runs_.end();) {
      Run& r = **it;
      if (!r.done) {
        ++it;
        continue;
      }
      r.thread.join();
      bool stopped = stop_requested.load();
      auto found = slots_.find(r.name);
      int failures = 0;
      std::int64_t next_unix = 0;
      if (found != slots_.end()) {
        Slot& s = found->second;
        s.running = false;
        s.failures = r.outcome.failure ? std::min(s.failures + 1, 1 << 20) : 0;
        failures = s.failures;
        milliseconds delay = next_delay(s.config->poll, s.failures);
        milliseconds cap = max_jitter_for(delay);
        std::uniform_int_distribution<std::int64_t> jitter(0, cap.count());
        delay += milliseconds(jitter(rng_));
        s.due = Clock::now() + delay;
        if (!stopped && !s.removed) {
          next_unix = static_cast<std::int64_t>(std::time(nullptr)) +
                      std::chrono::duration_cast<std::chrono::seconds>(delay).count();
        }
        if (s.removed) {
          std::erase(order_, r.name);
          slots_.erase(found);
        }
      }
      const AccountConfig& a = *r.config;
      if (r.outcome.failure && !stopped) {
        console_.error(fmt::format("popbox fetch: {}: {}", a.name, r.outcome.failure.message));
      }
      console_.info(status_line(a.name, r.outcome, failures, next_unix, stopped));
      // A run cut short by SIGTERM is neither a success nor an error.
      bool cut = stopped && r.outcome.failure;
      if (!o_.fetch.dry_run && !cut && r.outcome.started) {
        std::string why = record_run_status(
            a, r.outcome, static_cast<std::int64_t>(std::time(nullptr)), next_unix);
        if (!why.empty())
          console_.warn(fmt::format("{}: run status not recorded: {}", a.name, why));
      }
      it = runs_.erase(it);
    }
  }

  void announce_stop() {
    if (stop_announced_) return;
    stop_announced_ = true;
    console_.info(fmt::format("popbox fetch: stopping: {} account{} running", runs_.size(),
                              runs_.size() == 1 ? "" : "s"));
    if (o_.stopping) o_.stopping("finishing the messages in flight");
  }

  // Sleeps until the earliest due account (if a run could start), a
  // finished run or a signal.
  void wait() {
    int timeout = -1;  // only a finished run or a signal can change anything
    if (!stop_requested && runs_.size() < o_.fetch.jobs) {
      auto now = Clock::now();
      for (const auto& [name, s] : slots_) {
        if (s.running || s.removed) continue;
        auto ms = std::chrono::duration_cast<milliseconds>(s.due - now).count() + 1;
        ms = std::clamp<std::int64_t>(ms, 0, 24 * 3600 * 1000);
        if (timeout < 0 || ms < timeout) timeout = static_cast<int>(ms);
      }
    }
    if (stop_requested && runs_.empty()) return;
    pollfd p{wake_fds[0], POLLIN, 0};
    ::poll(&p, 1, timeout);  // EINTR: a signal, handled on the next turn
    drain_wake();
  }

  FetchConfig config_;
  const DaemonOptions& o_;
  Console& console_;
  std::mt19937_64 rng_;
  std::map<std::string, Slot> slots_;
  std::vector<std::string> order_;  // config order, for ties
  std::list<std::unique_ptr<Run>> runs_;
  bool stop_announced_ = false;
};

}  // namespace

milliseconds next_delay(milliseconds poll, int failures) {
  if (failures <= 0) return poll;
  int n = std::min(failures, limits::max_backoff_doublings);
  milliseconds cap = std::max<milliseconds>(limits::max_backoff, poll);
  milliseconds d = poll * (std::int64_t{1} << n);
  return std::min(d, cap);
}

milliseconds max_jitter_for(milliseconds delay) {
  return std::min<milliseconds>(delay / limits::jitter_divisor, limits::max_jitter);
}

std::string iso_time(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string status_line(const std::string& account, const AccountOutcome& r, int failures,
                        std::int64_t next_run, bool stopped) {
  const char* result = !r.failure ? "ok" : stopped ? "stopped" : "error";
  std::string line = fmt::format(
      "popbox fetch: account={} result={} messages={} bytes={} "
      "duration={:.2f}s",
      account, result, r.stats.fetched, r.stats.bytes, r.seconds);
  if (r.failure && !stopped) line += fmt::format(" failures={}", failures);
  line += " next_run=" + (next_run ? iso_time(next_run) : std::string("-"));
  if (r.failure) line += " error=" + quote_value(r.failure.message);
  return line;
}

int run_daemon(FetchConfig config, const DaemonOptions& options, Console& console) {
  Daemon d(std::move(config), options, console);
  return d.run();
}

}  // namespace popbox::client
