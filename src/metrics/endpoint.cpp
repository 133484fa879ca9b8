#include "metrics/endpoint.hpp"

#include <httplib.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/limits.hpp"

namespace popbox::metrics {

namespace {

constexpr char content_type[] = "text/plain; version=0.0.4; charset=utf-8";

// httplib's ThreadPool queues accepted connections without bound; this one
// holds at most limits::metrics_queued_connections and makes the accepting
// thread wait for room (the kernel's backlog then fills, not our memory).
class BoundedPool final : public httplib::TaskQueue {
 public:
  BoundedPool() {
    for (std::size_t i = 0; i < limits::metrics_threads; ++i) {
      threads_.emplace_back([this] { work(); });
    }
  }

  void enqueue(std::function<void()> fn) override {
    std::unique_lock lock(mutex_);
    room_.wait(lock, [this] { return jobs_.size() < limits::metrics_queued_connections; });
    jobs_.push_back(std::move(fn));
    ready_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stopping, and every connection served
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      room_.notify_one();
      fn();  // serves the connection and closes it
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_, room_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;
};

}  // namespace

struct Endpoint::Impl {
  httplib::Server http;
  std::uint16_t port = 0;
  std::thread thread;
  std::atomic<bool> finished{false};
};

Endpoint::Endpoint(const std::string& host, std::uint16_t port, std::function<std::string()> render)
    : impl_(std::make_unique<Impl>()) {
  auto& http = impl_->http;
  http.new_task_queue = [] { return new BoundedPool; };
  const auto timeout = std::chrono::duration_cast<std::chrono::seconds>(limits::metrics_timeout);
  http.set_read_timeout(timeout.count());
  http.set_write_timeout(timeout.count());
  http.set_keep_alive_timeout(timeout.count());
  http.set_payload_max_length(limits::metrics_max_request_body);
  http.Get("/metrics",
           [render = std::move(render)](const httplib::Request&, httplib::Response& res) {
             res.set_content(render(), content_type);
           });
  // Every other path and method is a 404 (garbage stays httplib's 400),
  // with a short text body.
  http.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    if ((req.method == "GET" || req.method == "HEAD") && req.path == "/metrics") {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    res.status = 404;
    res.set_content("not found; try /metrics\n", "text/plain");
    return httplib::Server::HandlerResponse::Handled;
  });
  http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    res.set_content(res.status == 404 ? "not found; try /metrics\n" : "bad request\n",
                    "text/plain");
  });
  errno = 0;
  int bound = port;
  if (port == 0) {
    bound = http.bind_to_any_port(host);
  } else if (!http.bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound <= 0) {
    const int err = errno;
    throw std::runtime_error("[metrics] cannot listen on " + host + ":" + std::to_string(port) +
                             (err ? std::string(": ") + std::strerror(err) : std::string()));
  }
  impl_->port = static_cast<std::uint16_t>(bound);
}

Endpoint::~Endpoint() {
  stop();
}

std::uint16_t Endpoint::port() const noexcept {
  return impl_->port;
}

void Endpoint::start() {
  impl_->thread = std::thread([impl = impl_.get()] {
    impl->http.listen_after_bind();
    impl->finished = true;
  });
}

void Endpoint::stop() {
  if (!impl_->thread.joinable()) return;
  // stop() only acts once the accept loop runs: wait (bounded) for it.
  for (int i = 0; i < 500 && !impl_->http.is_running() && !impl_->finished; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  impl_->http.stop();
  impl_->thread.join();
}

}  // namespace popbox::metrics
