#pragma once
// Moving one message from the disk towards the socket for a RETR/TOP reply.
// The POP3 session frames the reply (pop3::Session::stream_next); these
// helpers only get the stored blocks: from the page cache on the event
// thread when they are there, otherwise on the blocking pool while the
// output already framed goes out, so the disk read and the socket write
// overlap instead of taking turns.

#include <asio/co_spawn.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <cstddef>
#include <exception>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>

#include "net/blocking.hpp"
#include "store/mailbox.hpp"

namespace popbox::net::detail {

/// One block read from a message: `n` bytes (0 at the end), or an error.
struct BlockRead {
  std::size_t n = 0;
  std::error_code ec;
};

/// Reads the next block of `reader` into `buf`, blocking: for the pool.
inline BlockRead read_block(store::MessageReader& reader, std::span<char> buf) {
  BlockRead r;
  r.n = reader.read(buf, r.ec);
  return r;
}

/// What read_while_writing() did: the block read, and the write's outcome.
struct ReadAndWrite {
  BlockRead read;
  std::error_code write_error;
  std::size_t written = 0;
};

/// Reads the next block of `reader` into `buf` on `pool` while `out` is
/// written to `stream`; returns when both are done. `reader`, `buf` and
/// `out` must stay untouched until then.
template <class Stream>
asio::awaitable<ReadAndWrite> read_while_writing(BlockingPool& pool, store::MessageReader& reader,
                                                 std::span<char> buf, Stream& stream,
                                                 std::string_view out) {
  store::MessageReader* r = &reader;
  // Named locals, not temporaries inside the co_await expression (the GCC 12
  // double destruction noted in net/blocking.hpp).
  auto task = [r, buf]() -> asio::awaitable<BlockRead> { co_return read_block(*r, buf); };
  auto read_op =
      asio::co_spawn(pool.get().get_executor(), std::move(task), asio::experimental::deferred);
  auto write_op =
      asio::async_write(stream, asio::buffer(out.data(), out.size()), asio::experimental::deferred);
  auto group = asio::experimental::make_parallel_group(std::move(read_op), std::move(write_op));
  auto wait = std::move(group).async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  auto [order, failure, block, write_error, written] = co_await std::move(wait);
  (void)order;
  if (failure) std::rethrow_exception(failure);
  co_return ReadAndWrite{block, write_error, written};
}

}  // namespace popbox::net::detail
