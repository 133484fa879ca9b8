// bench/metrics-cost: what one POP3 session's metric events cost: two threads each run N
// "sessions" worth of the calls popbox makes (open, 6 commands, login, cache,
// maildrop open, one RETR, end), through metrics::server() as
// popbox calls them, all on the same handles: the worst case
// for the shared cache lines. Build: cmake --build build --target
// metrics_cost_events, then ./build/metrics_cost_events.
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "metrics/server_metrics.hpp"

using namespace popbox;
int main() {
  constexpr int n = 2'000'000;
  for (int threads : {1, 2}) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([] {
        for (int i = 0; i < n; ++i) {
          metrics::ServerMetrics::OpenSession open(metrics::server(), metrics::Listener::pop3);
          metrics::server().command("USER a");
          metrics::server().command("PASS b");
          metrics::server().command("STAT");
          metrics::server().command("UIDL");
          metrics::server().command("RETR 1");
          metrics::server().command("QUIT");
          metrics::server().auth_cache(true);
          const auto a = std::chrono::steady_clock::now();
          metrics::server().maildrop_open(std::chrono::steady_clock::now() - a);
          metrics::server().login(pop3::Mechanism::user, pop3::LoginOutcome::ok,
                                  std::chrono::steady_clock::now() - a);
          metrics::server().retr(false, std::chrono::steady_clock::now() - a);
          metrics::server().pop3_ended(false, pop3::CloseReason::quit, false, 40, 400);
        }
      });
    }
    for (auto& t : ts) t.join();
    double ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%d thread(s): %.0f ns per session's events (wall, per thread)\n", threads, ns / n);
  }
}
