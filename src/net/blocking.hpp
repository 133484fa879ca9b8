#pragma once
// Runs slow or blocking work (password hashes, directory scans, file reads)
// on the blocking pool and resumes the calling coroutine on its own event
// thread with the result. Exceptions travel back to the caller.

#include <asio/co_spawn.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <cassert>
#include <cstddef>
#include <optional>
#include <type_traits>
#include <utility>

namespace popbox::net {

/// Runs fn() on `pool` and co_returns its result on the caller's executor.
template <class Fn>
auto run_blocking(asio::thread_pool& pool, Fn fn) -> asio::awaitable<std::invoke_result_t<Fn&>> {
  using R = std::invoke_result_t<Fn&>;
  // Named locals, not temporaries inside the co_await expression: GCC 12
  // destroys such temporaries twice (a double free seen here).
  auto task = [fn = std::move(fn)]() mutable -> asio::awaitable<R> { co_return fn(); };
  auto op = asio::co_spawn(pool.get_executor(), std::move(task), asio::use_awaitable);
  co_return co_await std::move(op);
}

/// A thread pool whose threads are made by start(), not at construction:
/// threads made after the privilege drop get the credentials and
/// capabilities it leaves (threads running during it would keep none).
class BlockingPool {
 public:
  explicit BlockingPool(std::size_t threads) : threads_(threads) {}
  /// Starts the threads (once); call before anything is posted.
  void start() {
    if (!pool_) pool_.emplace(threads_);
  }
  /// Waits for the threads once the work runs out (after stop of the users).
  void join() {
    if (pool_) pool_->join();
  }
  /// The started pool.
  asio::thread_pool& get() {
    assert(pool_);
    return *pool_;
  }

 private:
  std::size_t threads_;
  std::optional<asio::thread_pool> pool_;
};

/// run_blocking on a started BlockingPool.
template <class Fn>
auto run_blocking(BlockingPool& pool, Fn fn) -> asio::awaitable<std::invoke_result_t<Fn&>> {
  return run_blocking(pool.get(), std::move(fn));
}

}  // namespace popbox::net
