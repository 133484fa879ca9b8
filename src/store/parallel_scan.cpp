// Helpers are plain std::threads started per listing (a never-seen big
// maildrop is rare; a thread costs tens of microseconds against seconds of
// reads). Linux gives a new thread a copy of its creator's credentials, so
// a helper started inside an FsIdGuard works with the mailbox owner's fs
// ids, and a helper started by a mail-pool thread holds what that thread
// holds and nothing more; both are checked before a helper takes work.
#include "store/parallel_scan.hpp"

#include <sys/fsuid.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <system_error>
#include <thread>
#include <vector>

#include "core/limits.hpp"

namespace popbox::store::detail {
namespace {

// Helper threads running anywhere in the process.
std::atomic<std::size_t> helpers_busy{0};

// Takes up to `want` helpers from the process-wide budget.
std::size_t reserve_helpers(std::size_t want) noexcept {
  std::size_t busy = helpers_busy.load(std::memory_order_relaxed);
  for (;;) {
    std::size_t free =
        busy < limits::maildir_scan_threads ? limits::maildir_scan_threads - busy : 0;
    std::size_t take = std::min(want, free);
    if (take == 0) return 0;
    if (helpers_busy.compare_exchange_weak(busy, busy + take, std::memory_order_relaxed)) {
      return take;
    }
  }
}

// The calling thread's fs ids: setfs*id with an invalid id changes nothing
// and returns the id in force.
struct FsIds {
  uid_t uid;
  gid_t gid;
  bool operator==(const FsIds&) const = default;
};

FsIds current_fs_ids() noexcept {
  return {static_cast<uid_t>(::setfsuid(static_cast<uid_t>(-1))),
          static_cast<gid_t>(::setfsgid(static_cast<gid_t>(-1)))};
}

// The shared work list: threads take chunks of indices until none is left.
struct Work {
  std::size_t count;
  bool want_scratch;
  const ScanTask& task;
  std::atomic<std::size_t> next{0};

  void run() {
    std::vector<char> scratch(want_scratch ? limits::maildir_measure_block : 0);
    std::span<char> s(scratch.data(), scratch.size());
    for (;;) {
      std::size_t begin = next.fetch_add(limits::maildir_scan_chunk, std::memory_order_relaxed);
      if (begin >= count) return;
      std::size_t end = std::min(count, begin + limits::maildir_scan_chunk);
      for (std::size_t i = begin; i < end; ++i) task(i, s);
    }
  }
};

}  // namespace

std::size_t scan_helpers_for(std::size_t count) noexcept {
  return std::min(limits::maildir_scan_threads, count / limits::maildir_scan_files_per_thread);
}

void for_each_parallel(std::size_t count, bool want_scratch, const ScanTask& task) {
  Work work{count, want_scratch, task};
  std::size_t helpers = reserve_helpers(scan_helpers_for(count));
  const FsIds ids = helpers > 0 ? current_fs_ids() : FsIds{};
  std::vector<std::thread> threads;
  threads.reserve(helpers);
  for (std::size_t h = 0; h < helpers; ++h) {
    try {
      threads.emplace_back([&work, ids] {
        if (current_fs_ids() == ids) work.run();
      });
    } catch (const std::system_error&) {
      break;  // no more threads now (EAGAIN): the ones started and the caller do it all
    }
  }
  if (threads.size() < helpers) {
    helpers_busy.fetch_sub(helpers - threads.size(), std::memory_order_relaxed);
  }
  work.run();
  for (auto& t : threads) t.join();
  helpers_busy.fetch_sub(threads.size(), std::memory_order_relaxed);
}

}  // namespace popbox::store::detail
