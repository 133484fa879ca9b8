#pragma once
// Per-user quota: limits from Dovecot-style rules (passwd-file extra fields
// `userdb_quota_rule=*:storage=100M`, `userdb_quota_rule2=*:messages=10000`)
// over a config default, and the usage of a Maildir.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "store/mailbox.hpp"

namespace popbox::store {

/// Limits; 0 means unlimited.
struct QuotaLimits {
  std::uint64_t storage = 0;
  std::uint64_t messages = 0;
  bool unlimited() const noexcept { return storage == 0 && messages == 0; }
};

/// What a mailbox holds now (see Store::usage).
using QuotaUsage = Usage;

/// Applies the quota rules found in a passwd-file extra field string (space
/// separated key=value) on top of `defaults`. Only the `*` (whole account)
/// rules are used; `storage=` without a unit is in kilobytes, as in Dovecot.
/// Returns nullopt and sets `error` for a rule it cannot read.
std::optional<QuotaLimits> quota_from_extra(std::string_view extra, QuotaLimits defaults,
                                            std::string* error = nullptr);

/// Parses one Dovecot quota size ("100M", "1G", "512k", "2048" = KiB, "10B").
std::optional<std::uint64_t> parse_quota_size(std::string_view text);

/// Counts the messages of `maildir` (new/ and cur/) and their stored bytes,
/// using ",S=" size hints in names and stat() otherwise. A missing Maildir
/// holds nothing; a symlinked new/ or cur/ gives store_errc::unsafe_path.
std::error_code maildir_usage(const std::string& maildir, QuotaUsage& usage);

/// True when one more message of `size` bytes would exceed `limits`.
bool over_quota(const QuotaLimits& limits, const QuotaUsage& usage, std::uint64_t size) noexcept;

}  // namespace popbox::store
