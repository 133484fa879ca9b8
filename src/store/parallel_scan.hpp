#pragma once
// Running per-file work of a Maildir listing (stat, measure) on several
// threads: the first login of a big maildrop reads every message file, and
// one thread leaves both the disk queue and the second core idle.

#include <cstddef>
#include <functional>
#include <span>

namespace popbox::store::detail {

/// Per-item work: `scratch` is maildir_measure_block bytes owned by the
/// calling thread (empty when the caller asked for none).
using ScanTask = std::function<void(std::size_t index, std::span<char> scratch)>;

/// Calls task(i, scratch) exactly once for every i in [0, count) and
/// returns when all calls are done. Runs on the calling thread plus up to
/// limits::maildir_scan_threads helper threads (one per
/// maildir_scan_files_per_thread items, from a process-wide budget; none
/// for small counts or when the budget is spent). Helpers run with the
/// calling thread's credentials, file-system ids included; a helper that
/// finds other fs ids does nothing and leaves its items to the others.
/// task must be safe to run concurrently for distinct indices and must not
/// throw. Never call it on an event thread: it blocks until all are done.
void for_each_parallel(std::size_t count, bool want_scratch, const ScanTask& task);

/// How many helper threads for_each_parallel would start for `count`
/// items with the whole budget free; for tests.
std::size_t scan_helpers_for(std::size_t count) noexcept;

}  // namespace popbox::store::detail
