#pragma once
// The Server-Sent Events clients of GET /api/v1/events. publish() formats
// an event once and queues it for every client (filtered by inbox); it
// never blocks: a client whose queue passes limits::sandbox_sse_queue is
// marked dropped and its stream ends. Each client's stream coroutine waits
// on its own timer, woken from any thread.

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/api/json_views.hpp"

namespace popbox::sandbox::api {

class SseClient : public std::enable_shared_from_this<SseClient> {
 public:
  SseClient(asio::any_io_executor ex, std::optional<std::string> inbox)
      : inbox_(std::move(inbox)), timer_(ex) {}
  /// Queues a frame unless the client filters its inbox out (any thread).
  void push(const std::string& inbox_id, const std::string& frame);
  /// Moves the queued frames to `out`; false once the client was dropped.
  bool take(std::deque<std::string>& out);
  /// Ends the stream (any thread).
  void close();
  asio::steady_timer& timer() { return timer_; }

 private:
  void wake();
  const std::optional<std::string> inbox_;
  asio::steady_timer timer_;
  std::mutex mutex_;
  std::deque<std::string> queue_;
  bool dropped_ = false;
};

class EventFeed {
 public:
  void add(const std::shared_ptr<SseClient>& c);
  void remove(const std::shared_ptr<SseClient>& c);
  /// Sends `ev` (with the message's summary for message_received) to every client.
  void publish(const Event& ev, const json* summary);
  /// Ends every stream (shutdown).
  void close_all();
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<SseClient>> clients_;
  std::uint64_t next_id_ = 1;
};

}  // namespace popbox::sandbox::api
