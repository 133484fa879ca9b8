#include "sandbox/api/webhooks.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <unordered_map>

#include "auth/scram.hpp"
#include "core/limits.hpp"

namespace popbox::sandbox::api {

namespace {

using Steady = std::chrono::steady_clock;

std::size_t discard(char*, std::size_t size, std::size_t n, void*) {
  return size * n;
}

std::string hex(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::chrono::seconds backoff(int attempts_made) {
  const int doublings = std::min(attempts_made - 1, 20);
  const auto d = limits::webhook_first_backoff * (1LL << std::max(doublings, 0));
  return std::min<std::chrono::seconds>(d, limits::webhook_max_backoff);
}

json delivery_json(const Delivery& d) {
  return json{{"id", d.id},
              {"event", d.event},
              {"message_id", d.message_id},
              {"attempt", d.attempt},
              {"status", d.status ? json(*d.status) : json(nullptr)},
              {"error", d.error ? json(*d.error) : json(nullptr)},
              {"at", format_time(d.at)},
              {"next_attempt", d.next_attempt ? json(format_time(*d.next_attempt)) : json(nullptr)},
              {"delivered", d.delivered}};
}

}  // namespace

struct Webhooks::Job {
  std::string inbox_id;
  std::string delivery_id;
  std::string event;
  std::string body;
  int attempt = 0;  // attempts made
  Steady::time_point due;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {};

  void release() {
    if (easy) curl_easy_cleanup(easy);
    if (headers) curl_slist_free_all(headers);
    easy = nullptr;
    headers = nullptr;
  }
  ~Job() { release(); }
};

bool valid_webhook_url(const std::string& url) {
  if (url.size() > limits::webhook_max_url) return false;
  const bool scheme = url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
  if (!scheme) return false;
  const std::size_t host = url.find("://") + 3;
  if (host >= url.size() || url[host] == '/') return false;
  return std::none_of(url.begin(), url.end(),
                      [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; });
}

std::string webhook_signature(const std::string& secret, const std::string& body) {
  return "sha256=" + hex(auth::hmac_sha256(secret, body));
}

Webhooks::Webhooks() {
  static const CURLcode global = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)global;
  multi_ = curl_multi_init();
}

Webhooks::~Webhooks() {
  stop();
  curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

void Webhooks::start() {
  thread_ = std::thread([this] { run(); });
}

void Webhooks::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
  if (thread_.joinable()) thread_.join();
}

void Webhooks::set(const std::string& inbox_id, WebhookConfig config) {
  std::lock_guard lock(mutex_);
  hooks_[inbox_id] = std::move(config);
}

std::optional<WebhookConfig> Webhooks::get(const std::string& inbox_id) const {
  std::lock_guard lock(mutex_);
  auto it = hooks_.find(inbox_id);
  if (it == hooks_.end()) return std::nullopt;
  return it->second;
}

bool Webhooks::erase(const std::string& inbox_id) {
  std::lock_guard lock(mutex_);
  log_.erase(inbox_id);
  return hooks_.erase(inbox_id) > 0;
}

json Webhooks::deliveries(const std::string& inbox_id) const {
  std::lock_guard lock(mutex_);
  json list = json::array();
  if (auto it = log_.find(inbox_id); it != log_.end()) {
    for (auto d = it->second.rbegin(); d != it->second.rend(); ++d)
      list.push_back(delivery_json(*d));
  }
  return json{{"deliveries", std::move(list)}};
}

Delivery* Webhooks::find_log(const std::string& inbox_id, const std::string& id) {
  auto it = log_.find(inbox_id);
  if (it == log_.end()) return nullptr;
  for (auto& d : it->second) {
    if (d.id == id) return &d;
  }
  return nullptr;
}

void Webhooks::record(const std::string& inbox_id, const Delivery& d) {
  auto& log = log_[inbox_id];
  log.push_back(d);
  while (log.size() > limits::webhook_log_entries) log.pop_front();
}

void Webhooks::notify(const std::string& inbox_id, const std::string& event,
                      const std::string& message_id, const json& payload) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || hooks_.count(inbox_id) == 0) return;
    Delivery d;
    d.id = "d" + std::to_string(next_id_++);
    d.event = event;
    d.message_id = message_id;
    d.at = Clock::now();
    if (queue_.size() >= limits::webhook_queue) {
      d.error = "webhook queue full: dropped";
      record(inbox_id, d);
      return;
    }
    d.next_attempt = d.at;
    record(inbox_id, d);
    auto job = std::make_unique<Job>();
    job->inbox_id = inbox_id;
    job->delivery_id = d.id;
    job->event = event;
    job->body = dump(payload);
    job->due = Steady::now();
    queue_.push_back(std::move(job));
  }
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

void Webhooks::run() {
  auto* multi = static_cast<CURLM*>(multi_);
  std::unordered_map<CURL*, std::unique_ptr<Job>> active;
  for (;;) {
    std::vector<std::unique_ptr<Job>> ready;
    auto wait = std::chrono::milliseconds(1000);
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
      const auto now = Steady::now();
      for (auto it = queue_.begin(); it != queue_.end();) {
        if ((*it)->due <= now) {
          ready.push_back(std::move(*it));
          it = queue_.erase(it);
        } else {
          const auto left = std::chrono::duration_cast<std::chrono::milliseconds>((*it)->due - now);
          wait = std::min(wait, left + std::chrono::milliseconds(1));
          ++it;
        }
      }
      for (auto& job : ready) {
        auto hook = hooks_.find(job->inbox_id);
        if (hook == hooks_.end()) {
          job.reset();  // the webhook was removed: nothing to send
          continue;
        }
        CURL* e = curl_easy_init();
        job->easy = e;
        job->headers = curl_slist_append(job->headers, "Content-Type: application/json");
        job->headers = curl_slist_append(job->headers, ("X-Popbox-Event: " + job->event).c_str());
        job->headers =
            curl_slist_append(job->headers, ("X-Popbox-Delivery: " + job->delivery_id).c_str());
        job->headers = curl_slist_append(
            job->headers,
            ("X-Popbox-Signature: " + webhook_signature(hook->second.secret, job->body)).c_str());
        job->headers = curl_slist_append(job->headers, "Expect:");
        curl_easy_setopt(e, CURLOPT_URL, hook->second.url.c_str());
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(
            e, CURLOPT_TIMEOUT_MS,
            static_cast<long>(std::chrono::milliseconds(limits::webhook_timeout).count()));
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, job->headers);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, job->body.c_str());
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(job->body.size()));
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, job->errbuf);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "popbox-sandbox");
        curl_multi_add_handle(multi, e);
        active.emplace(e, std::move(job));
      }
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* e = msg->easy_handle;
      const CURLcode result = msg->data.result;
      long status = 0;
      curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
      curl_multi_remove_handle(multi, e);
      auto node = active.extract(e);
      std::unique_ptr<Job> job = std::move(node.mapped());
      const std::string errtext = job->errbuf[0] ? job->errbuf : curl_easy_strerror(result);
      job->release();
      ++job->attempt;
      const bool ok = result == CURLE_OK && status >= 200 && status < 300;
      std::lock_guard lock(mutex_);
      Delivery* d = find_log(job->inbox_id, job->delivery_id);
      if (d) {
        d->attempt = job->attempt;
        d->at = Clock::now();
        d->status = result == CURLE_OK ? std::optional<long>(status) : std::nullopt;
        d->error = result == CURLE_OK ? std::nullopt : std::optional<std::string>(errtext);
        d->delivered = ok;
        d->next_attempt.reset();
      }
      if (!ok && job->attempt < limits::webhook_max_attempts && d) {
        const auto delay = backoff(job->attempt);
        job->due = Steady::now() + delay;
        d->next_attempt = Clock::now() + delay;
        queue_.push_back(std::move(job));
      }
    }
    long curl_wait = -1;
    curl_multi_timeout(multi, &curl_wait);
    if (curl_wait >= 0) wait = std::min(wait, std::chrono::milliseconds(curl_wait));
    curl_multi_poll(multi, nullptr, 0, static_cast<int>(wait.count()), nullptr);
  }
  for (auto& [e, job] : active) curl_multi_remove_handle(multi, e);
  active.clear();
}

}  // namespace popbox::sandbox::api
