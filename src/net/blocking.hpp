#pragma once
// Runs slow or blocking work (password hashes, directory scans, file reads)
// on the blocking pool and resumes the calling coroutine on its own event
// thread with the result. Exceptions travel back to the caller.

#include <asio/co_spawn.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <type_traits>
#include <utility>

namespace popbox::net {

/// Runs fn() on `pool` and co_returns its result on the caller's executor.
template <class Fn>
auto run_blocking(asio::thread_pool& pool, Fn fn) -> asio::awaitable<std::invoke_result_t<Fn&>> {
  using R = std::invoke_result_t<Fn&>;
  co_return co_await asio::co_spawn(
      pool.get_executor(), [fn = std::move(fn)]() mutable -> asio::awaitable<R> { co_return fn(); },
      asio::use_awaitable);
}

}  // namespace popbox::net
