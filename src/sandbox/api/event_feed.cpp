#include "sandbox/api/event_feed.hpp"

#include <algorithm>
#include <asio/post.hpp>

#include "core/limits.hpp"

namespace popbox::sandbox::api {

void SseClient::push(const std::string& inbox_id, const std::string& frame) {
  if (inbox_ && *inbox_ != inbox_id) return;
  {
    std::lock_guard lock(mutex_);
    if (dropped_) return;
    if (queue_.size() >= limits::sandbox_sse_queue) {
      dropped_ = true;
      queue_.clear();
    } else {
      queue_.push_back(frame);
    }
  }
  wake();
}

bool SseClient::take(std::deque<std::string>& out) {
  std::lock_guard lock(mutex_);
  out.swap(queue_);
  queue_.clear();
  return !dropped_;
}

void SseClient::close() {
  {
    std::lock_guard lock(mutex_);
    dropped_ = true;
  }
  wake();
}

void SseClient::wake() {
  asio::post(timer_.get_executor(), [self = shared_from_this()] { self->timer_.cancel(); });
}

void EventFeed::add(const std::shared_ptr<SseClient>& c) {
  std::lock_guard lock(mutex_);
  clients_.push_back(c);
}

void EventFeed::remove(const std::shared_ptr<SseClient>& c) {
  std::lock_guard lock(mutex_);
  clients_.erase(std::remove(clients_.begin(), clients_.end(), c), clients_.end());
}

void EventFeed::publish(const Event& ev, const json* summary) {
  json data{{"kind", event_kind_name(ev.kind)},
            {"inbox_id", ev.inbox_id},
            {"message_id", ev.message_id},
            {"seq", ev.seq}};
  if (summary) data["summary"] = *summary;
  std::lock_guard lock(mutex_);
  const std::string frame = std::string("event: ") + event_kind_name(ev.kind) +
                            "\nid: " + std::to_string(next_id_++) + "\ndata: " + dump(data) +
                            "\n\n";
  for (const auto& c : clients_) c->push(ev.inbox_id, frame);
}

void EventFeed::close_all() {
  std::lock_guard lock(mutex_);
  for (const auto& c : clients_) c->close();
}

std::size_t EventFeed::size() const {
  std::lock_guard lock(mutex_);
  return clients_.size();
}

}  // namespace popbox::sandbox::api
