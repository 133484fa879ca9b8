#pragma once
// The waiting requests of GET .../wait. Each registers a Waiter (its
// criteria and a timer on its own event thread); the API's event processing
// offers every arriving message to the waiters of its inbox, and a waiter
// that has its count is woken. No thread and no polling per wait: a waiter
// costs its criteria, its timer and the summaries it has matched.

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <unordered_map>
#include <vector>

#include "sandbox/api/json_views.hpp"

namespace popbox::sandbox::api {

struct WaitCriteria {
  std::size_t count = 1;
  std::optional<std::regex> subject, from, body;
};

/// A regex for a wait: ECMAScript, case-insensitive; nullopt with `error`
/// set when the pattern is too long or invalid.
std::optional<std::regex> compile_pattern(const std::string& pattern, std::string& error);
/// Whether `parsed` satisfies every pattern of `c` (each run over at most
/// limits::sandbox_match_input bytes of its text).
bool matches(const WaitCriteria& c, const mime::Parsed& parsed);

class Waiter : public std::enable_shared_from_this<Waiter> {
 public:
  Waiter(asio::any_io_executor ex, std::string inbox_id, WaitCriteria criteria)
      : inbox_id_(std::move(inbox_id)), criteria_(std::move(criteria)), timer_(ex) {}

  /// Offers a message (any thread): kept when it matches; wakes the waiter
  /// once `count` messages are kept.
  void offer(const MessageInfo& info, const mime::Parsed& parsed);
  /// Whether `count` messages matched.
  bool done() const;
  /// Messages matched so far.
  std::size_t matched() const;
  /// The first `count` matched summaries, oldest first.
  json result() const;
  /// The timer the request waits on (its own event thread only).
  asio::steady_timer& timer() { return timer_; }
  const std::string& inbox_id() const { return inbox_id_; }
  /// Ends the wait now (any thread): the request answers with what it has.
  void wake();

 private:
  const std::string inbox_id_;
  const WaitCriteria criteria_;
  asio::steady_timer timer_;
  mutable std::mutex mutex_;
  std::vector<std::pair<std::uint64_t, json>> hits_;  // seq, summary
  std::vector<std::string> ids_;
};

class WaitRegistry {
 public:
  /// Registers `w` to be offered the messages of its inbox.
  void add(const std::shared_ptr<Waiter>& w);
  void remove(const std::shared_ptr<Waiter>& w);
  /// Offers a message to the waiters of its inbox (call off the event threads:
  /// it runs their regexes).
  void offer(const MessageInfo& info, const mime::Parsed& parsed);
  /// Wakes every waiter (shutdown).
  void wake_all();
  /// Waiters registered now.
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Waiter>>> by_inbox_;
  std::size_t count_ = 0;
};

}  // namespace popbox::sandbox::api
