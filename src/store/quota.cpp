#include "store/quota.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "store/maildir_layout.hpp"
#include "store/maildir_name.hpp"
#include "store/maildir_usage.hpp"
#include "store/unique_fd.hpp"

namespace popbox::store {
namespace {

// The ",S=<digits>" hint of a Maildir base name, if any.
std::optional<std::uint64_t> size_hint(std::string_view name) {
  std::string_view base = detail::base_of(name);
  for (std::size_t pos = base.find(",S="); pos != std::string_view::npos;
       pos = base.find(",S=", pos + 1)) {
    std::string_view digits = base.substr(pos + 3);
    digits = digits.substr(0, digits.find(','));
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec == std::errc() && p == digits.data() + digits.size() && !digits.empty()) return v;
  }
  return std::nullopt;
}

// Counts the directory behind `dir_fd` (-1: missing, holds nothing). A fresh
// descriptor: readdir keeps its position in the open file description.
std::error_code count_dir(int dir_fd, QuotaUsage& usage) {
  if (dir_fd < 0) return {};
  int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return {errno, std::system_category()};
  DIR* d = ::fdopendir(fd);
  if (!d) {
    std::error_code ec(errno, std::system_category());
    ::close(fd);
    return ec;
  }
  for (dirent* e = ::readdir(d); e; e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (detail::is_ignored_name(name)) continue;
    if (auto hint = size_hint(name)) {
      usage.bytes += *hint;
      ++usage.messages;
      continue;
    }
    struct stat st {};
    if (::fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // vanished
    if (!S_ISREG(st.st_mode)) continue;
    usage.bytes += static_cast<std::uint64_t>(st.st_size);
    ++usage.messages;
  }
  ::closedir(d);
  return {};
}

}  // namespace

std::optional<std::uint64_t> parse_quota_size(std::string_view text) {
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || p == text.data()) return std::nullopt;
  std::string_view unit(p, text.data() + text.size() - p);
  int shift = 10;  // Dovecot: a bare number is in kilobytes
  if (unit == "B" || unit == "b") {
    shift = 0;
  } else if (unit == "k" || unit == "K") {
    shift = 10;
  } else if (unit == "M" || unit == "m") {
    shift = 20;
  } else if (unit == "G" || unit == "g") {
    shift = 30;
  } else if (unit == "T" || unit == "t") {
    shift = 40;
  } else if (!unit.empty()) {
    return std::nullopt;
  }
  if (n > (UINT64_MAX >> shift)) return std::nullopt;
  return n << shift;
}

std::optional<QuotaLimits> quota_from_extra(std::string_view extra, QuotaLimits limits,
                                            std::string* error) {
  auto fail = [&](std::string_view field) -> std::optional<QuotaLimits> {
    if (error) *error = "unreadable quota rule '" + std::string(field) + "'";
    return std::nullopt;
  };
  while (!extra.empty()) {
    std::size_t sp = extra.find(' ');
    std::string_view field = extra.substr(0, sp);
    extra = sp == std::string_view::npos ? std::string_view() : extra.substr(sp + 1);
    // userdb_quota_rule, userdb_quota_rule2, ... (and the bare quota_rule).
    std::size_t eq = field.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = field.substr(0, eq), value = field.substr(eq + 1);
    if (key.starts_with("userdb_")) key.remove_prefix(7);
    if (!key.starts_with("quota_rule")) continue;
    std::string_view num = key.substr(10);
    if (!num.empty() && num.find_first_not_of("0123456789") != std::string_view::npos) continue;
    std::size_t colon = value.find(':');
    if (colon == std::string_view::npos) return fail(field);
    if (value.substr(0, colon) != "*") continue;  // per-mailbox rules do not apply to POP3
    for (std::string_view rule = value.substr(colon + 1); !rule.empty();) {
      std::size_t c = rule.find(':');
      std::string_view part = rule.substr(0, c);
      rule = c == std::string_view::npos ? std::string_view() : rule.substr(c + 1);
      if (part == "ignore" || part == "noenforcing") continue;
      std::size_t e = part.find('=');
      if (e == std::string_view::npos) return fail(field);
      std::string_view what = part.substr(0, e), amount = part.substr(e + 1);
      if (what == "storage" || what == "bytes") {
        auto v = what == "storage" ? parse_quota_size(amount)
                                   : parse_quota_size(std::string(amount) + "B");
        if (!v) return fail(field);
        limits.storage = *v;
      } else if (what == "messages") {
        std::uint64_t v = 0;
        auto [p, ec] = std::from_chars(amount.data(), amount.data() + amount.size(), v);
        if (ec != std::errc() || p != amount.data() + amount.size()) return fail(field);
        limits.messages = v;
      } else {
        return fail(field);
      }
    }
  }
  return limits;
}

std::error_code detail::scan_usage(const MaildirDirs& dirs, Usage& usage) {
  usage = {};
  if (auto ec = count_dir(dirs.new_dir.get(), usage)) return ec;
  return count_dir(dirs.cur_dir.get(), usage);
}

std::error_code maildir_usage(const std::string& maildir, QuotaUsage& usage) {
  usage = {};
  detail::MaildirDirs dirs;
  if (auto ec = detail::open_maildir(maildir, dirs, detail::Create::no)) return ec;
  return detail::scan_usage(dirs, usage);
}

bool over_quota(const QuotaLimits& limits, const QuotaUsage& usage, std::uint64_t size) noexcept {
  if (limits.storage && usage.bytes + size > limits.storage) return true;
  if (limits.messages && usage.messages + 1 > limits.messages) return true;
  return false;
}

}  // namespace popbox::store
