#pragma once
// Per-inbox webhooks: on message_received, POST {"event","inbox","message"}
// to the inbox's URL, signed with HMAC-SHA256 over the body
// (X-Popbox-Signature: sha256=<hex>), retried with exponential backoff
// (limits::webhook_first_backoff doubling up to webhook_max_backoff, at most
// webhook_max_attempts), every attempt kept in a bounded delivery log.
// libcurl's multi interface on one thread of its own sends them all
// (chosen over a Beast client: TLS, proxies-free timeouts and connection
// reuse come with it, and a few hundred concurrent POSTs need one thread);
// only http:// and https:// URLs, no redirects, a whole-request timeout.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sandbox/api/json_views.hpp"

namespace popbox::sandbox::api {

struct WebhookConfig {
  std::string url;
  std::string secret;
};

struct Delivery {
  std::string id;
  std::string event;
  std::string message_id;
  int attempt = 0;                   ///< attempts made so far
  std::optional<long> status;        ///< HTTP status of the last attempt
  std::optional<std::string> error;  ///< transport error of the last attempt
  Clock::time_point at;              ///< when it was made (or queued)
  std::optional<Clock::time_point> next_attempt;
  bool delivered = false;
};

/// Whether `url` may be a webhook (http:// or https://, bounded, no spaces).
bool valid_webhook_url(const std::string& url);
/// "sha256=" + hex HMAC-SHA256(secret, body).
std::string webhook_signature(const std::string& secret, const std::string& body);

class Webhooks {
 public:
  Webhooks();
  ~Webhooks();
  Webhooks(const Webhooks&) = delete;
  Webhooks& operator=(const Webhooks&) = delete;

  /// Starts the sending thread.
  void start();
  /// Stops it; deliveries not sent are dropped. Idempotent.
  void stop();

  void set(const std::string& inbox_id, WebhookConfig config);
  std::optional<WebhookConfig> get(const std::string& inbox_id) const;
  /// Forgets the inbox's webhook and log; false when it had none.
  bool erase(const std::string& inbox_id);
  /// The inbox's log as JSON {"deliveries": [...]}, newest first.
  json deliveries(const std::string& inbox_id) const;
  /// Queues the POST of an event when the inbox has a webhook.
  void notify(const std::string& inbox_id, const std::string& event, const std::string& message_id,
              const json& payload);

 private:
  struct Job;
  void run();
  Delivery* find_log(const std::string& inbox_id, const std::string& id);
  void record(const std::string& inbox_id, const Delivery& d);

  mutable std::mutex mutex_;
  std::map<std::string, WebhookConfig> hooks_;
  std::map<std::string, std::deque<Delivery>> log_;
  std::deque<std::unique_ptr<Job>> queue_;  // waiting for their time
  std::uint64_t next_id_ = 1;
  bool stopping_ = false;
  void* multi_ = nullptr;  // CURLM*
  std::thread thread_;
};

}  // namespace popbox::sandbox::api
