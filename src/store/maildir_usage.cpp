#include "store/maildir_usage.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <string>
#include <string_view>

#include "store/checked_text.hpp"
#include "store/fault_point.hpp"
#include "store/safe_open.hpp"

namespace popbox::store {
namespace testing {
namespace {
std::atomic<void (*)(const char*)> fault_hook{nullptr};
}  // namespace

void fault_point(const char* where) noexcept {
  if (auto hook = fault_hook.load(std::memory_order_relaxed)) hook(where);
}

void set_fault_hook(void (*hook)(const char* where)) noexcept {
  fault_hook.store(hook);
}
}  // namespace testing

namespace detail {
namespace {

constexpr std::size_t max_usage_text = 512;

std::error_code errno_code() {
  return {errno, std::system_category()};
}

// The kernel's id of this boot: a count written before it may have lost
// writes that were never fsynced.
const std::string& boot_id() {
  static const std::string id = [] {
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string s;
    std::getline(in, s);
    return s.empty() ? std::string("unknown") : s;
  }();
  return id;
}

constexpr std::string_view header = "popbox-usage 1\n";

}  // namespace

std::string usage_text(const Usage& u, bool pending) {
  std::string out(header);
  out += "boot=" + boot_id() + " pending=" + (pending ? "1" : "0") +
         " bytes=" + std::to_string(u.bytes) + " messages=" + std::to_string(u.messages) + "\n";
  close_checked(out, 1, fnv1a);
  return out;
}

namespace {

bool take_field(std::string_view& line, std::string_view key, std::string_view& value) {
  if (!line.starts_with(key)) return false;
  line.remove_prefix(key.size());
  std::size_t sp = line.find_first_of(" \n");
  value = line.substr(0, sp);
  line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  return true;
}

bool take_number(std::string_view& line, std::string_view key, std::uint64_t& out) {
  std::string_view v;
  if (!take_field(line, key, v) || v.empty()) return false;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return ec == std::errc() && p == v.data() + v.size();
}

}  // namespace

// A usable count from the file's text: popbox's frame, this boot, not pending.
bool parse_usage(std::string_view text, Usage& out) {
  auto checked = open_checked(text, header, fnv1a);
  if (!checked || checked->count != 1) return false;
  std::string_view body = checked->body, v;
  if (!take_field(body, "boot=", v) || v != boot_id()) return false;
  if (!take_field(body, "pending=", v) || v != "0") return false;
  Usage u;
  if (!take_number(body, "bytes=", u.bytes) || !take_number(body, "messages=", u.messages) ||
      !body.empty()) {
    return false;
  }
  out = u;
  return true;
}

UsageCounter::UsageCounter(const MaildirDirs& dirs, std::error_code& ec) {
  ec = open_beneath(dirs.root.get(), usage_file_name, O_RDWR | O_CREAT, 0600, fd_);
  if (ec) return;
  while (::flock(fd_.get(), LOCK_EX) != 0) {
    if (errno != EINTR) {
      ec = errno_code();
      return;
    }
  }
  char buf[max_usage_text];
  ssize_t n;
  while ((n = ::pread(fd_.get(), buf, sizeof buf, 0)) < 0 && errno == EINTR) {
  }
  if (n < 0) {
    ec = errno_code();
    return;
  }
  if (parse_usage(std::string_view(buf, static_cast<std::size_t>(n)), usage_)) return;
  // Missing, damaged, pending or from an earlier boot: count again.
  usage_ = {};
  if ((ec = scan_usage(dirs, usage_))) return;
  ec = write(usage_, false);
}

std::error_code UsageCounter::write(const Usage& u, bool pending) {
  std::string line = usage_text(u, pending);
  ssize_t n;
  while ((n = ::pwrite(fd_.get(), line.data(), line.size(), 0)) < 0 && errno == EINTR) {
  }
  if (n != static_cast<ssize_t>(line.size()))
    return n < 0 ? errno_code() : make_error_code(store_errc::io);
  if (::ftruncate(fd_.get(), static_cast<off_t>(line.size())) != 0) return errno_code();
  return {};
}

std::error_code UsageCounter::begin_change() {
  return write(usage_, true);
}

std::error_code UsageCounter::set(const Usage& now) {
  if (auto ec = write(now, false)) return ec;
  usage_ = now;
  return {};
}

std::error_code UsageCounter::add(std::int64_t bytes, std::int64_t messages) {
  auto shifted = [](std::uint64_t v, std::int64_t d, bool& ok) {
    if (d < 0 && static_cast<std::uint64_t>(-d) > v) {
      ok = false;
      return v;
    }
    return v + static_cast<std::uint64_t>(d);
  };
  bool ok = true;
  Usage now{shifted(usage_.bytes, bytes, ok), shifted(usage_.messages, messages, ok)};
  // Below zero: the files were changed behind popbox's back. Left pending,
  // the next reader rebuilds the count.
  if (!ok) return write(usage_, true);
  return set(now);
}

std::error_code kept_usage(const MaildirDirs& dirs, Usage& out) {
  out = {};
  if (!dirs.root) return {};
  std::error_code ec;
  UsageCounter counter(dirs, ec);
  if (ec) return ec;
  out = counter.usage();
  return {};
}

}  // namespace detail
}  // namespace popbox::store
