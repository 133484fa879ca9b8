#include "net/message_stream.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace popbox::net {
namespace {

using namespace std::chrono_literals;

// A message whose block read finishes only once the peer has received some
// of the output, or gives up after a deadline: it tells whether the write
// ran while the read was under way.
class WaitingReader final : public store::MessageReader {
 public:
  WaitingReader(std::atomic<bool>& peer_got_bytes, std::atomic<bool>& done)
      : peer_got_bytes_(peer_got_bytes), done_(done) {}
  std::size_t read(std::span<char> buf, std::error_code& ec) override {
    ec.clear();
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!peer_got_bytes_ && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    overlapped = peer_got_bytes_.load();
    std::string block = "the next block\n";
    std::copy(block.begin(), block.end(), buf.begin());
    done_ = true;
    return block.size();
  }
  bool overlapped = false;

 private:
  std::atomic<bool>& peer_got_bytes_;
  std::atomic<bool>& done_;
};

TEST(MessageStream, ThePoolReadsTheNextBlockWhileTheOutputIsWritten) {
  asio::io_context io;
  asio::local::stream_protocol::socket ours(io), theirs(io);
  asio::local::connect_pair(ours, theirs);
  theirs.non_blocking(false);
  BlockingPool pool(1);
  pool.start();

  // More than a socket buffer holds: the write completes only as the peer reads.
  const std::string out(4 << 20, 'o');
  std::atomic<bool> peer_got_bytes{false}, read_done{false};
  bool read_done_mid_write = false;
  std::string received;
  // The peer takes the first bytes, then waits for the block read to end
  // before taking the rest: the write cannot finish before the read does,
  // and the read does not finish before the write has begun.
  std::thread peer([&] {
    std::vector<char> buf(1 << 16);
    while (received.size() < out.size()) {
      ssize_t n = ::read(theirs.native_handle(), buf.data(), buf.size());
      if (n <= 0) break;
      received.append(buf.data(), static_cast<std::size_t>(n));
      if (!peer_got_bytes) {
        peer_got_bytes = true;
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (!read_done && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(1ms);
        }
        read_done_mid_write = read_done && received.size() < out.size();
      }
    }
  });

  WaitingReader reader(peer_got_bytes, read_done);
  std::vector<char> block(64);
  detail::ReadAndWrite result;
  bool finished = false;
  auto run = [&]() -> asio::awaitable<void> {
    result = co_await detail::read_while_writing(pool, reader, block, ours, out);
    finished = true;
  };
  asio::co_spawn(io, run(), asio::detached);
  io.run_for(20s);
  peer.join();
  pool.join();

  ASSERT_TRUE(finished);
  EXPECT_TRUE(reader.overlapped) << "the read waited for the write";
  EXPECT_TRUE(read_done_mid_write) << "the write waited for the read";
  EXPECT_FALSE(result.write_error);
  EXPECT_EQ(result.written, out.size());
  EXPECT_EQ(received, out);
  EXPECT_FALSE(result.read.ec);
  EXPECT_EQ(std::string(block.data(), result.read.n), "the next block\n");
}

}  // namespace
}  // namespace popbox::net
