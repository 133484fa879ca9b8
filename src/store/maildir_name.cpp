// Maildir name rules and the UIDL derived from them.
#include "store/maildir_name.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cassert>
#include <numeric>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "core/limits.hpp"

namespace popbox::store::detail {
namespace {

bool is_size_hint(std::string_view field) noexcept {
  if (field.size() < 3 || (field[0] != 'S' && field[0] != 'W') || field[1] != '=') return false;
  return std::all_of(field.begin() + 2, field.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool all_distinct(const std::vector<std::string>& uidls,
                  std::span<const std::string_view> reserved = {}) {
  std::unordered_set<std::string_view> seen(reserved.begin(), reserved.end());
  seen.reserve(uidls.size() + reserved.size());
  for (const auto& u : uidls) {
    if (!seen.insert(u).second) return false;
  }
  return true;
}

}  // namespace

bool is_valid_uidl(std::string_view s) noexcept {
  if (s.empty() || s.size() > limits::max_uidl) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x21 && u <= 0x7E;
  });
}

std::string_view base_of(std::string_view name) noexcept {
  return name.substr(0, name.find(':'));
}

bool is_ignored_name(std::string_view name) noexcept {
  return name.empty() || name[0] == '.';
}

std::string seen_name(std::string_view name) {
  std::size_t colon = name.find(':');
  std::string_view base = name.substr(0, colon);
  std::string flags;
  if (colon != std::string_view::npos) {
    std::string_view info = name.substr(colon + 1);
    if (info.substr(0, 2) != "2,") return {};
    flags = info.substr(2);
  }
  if (flags.find('S') == std::string::npos) flags += 'S';
  std::sort(flags.begin(), flags.end());
  std::string out;
  out.reserve(base.size() + 3 + flags.size());
  out.append(base).append(":2,").append(flags);
  return out;
}

std::string uidl_of_base(std::string_view base) {
  // The first field is the unique part and is always kept, even if it looks
  // like a hint; only later ",S=" / ",W=" fields are size hints.
  std::string stripped;
  stripped.reserve(base.size());
  std::size_t start = 0;
  bool first = true;
  while (start <= base.size()) {
    std::size_t end = base.find(',', start);
    if (end == std::string_view::npos) end = base.size();
    std::string_view field = base.substr(start, end - start);
    if (first || !is_size_hint(field)) {
      if (!first) stripped += ',';
      stripped += field;
    }
    first = false;
    start = end + 1;
  }
  if (is_valid_uidl(stripped)) return stripped;
  return hash_uidl(base);
}

std::string hash_uidl(std::string_view base) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(base.data(), base.size(), digest, &len, EVP_sha256(), nullptr) != 1 || len < 20) {
    // SHA-256 is built into every OpenSSL 3 default provider; failing here
    // means a broken installation, not a bad input.
    throw std::runtime_error("SHA-256 is unavailable");
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "H";
  for (unsigned i = 0; i < 20; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xF];
  }
  return out;
}

bool delivered_before(std::string_view a, std::string_view b) noexcept {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      std::size_t ie = i, je = j;
      while (ie < a.size() && digit(a[ie])) ++ie;
      while (je < b.size() && digit(b[je])) ++je;
      std::string_view x = a.substr(i, ie - i), y = b.substr(j, je - j);
      while (x.size() > 1 && x.front() == '0') x.remove_prefix(1);
      while (y.size() > 1 && y.front() == '0') y.remove_prefix(1);
      if (x.size() != y.size()) return x.size() < y.size();
      if (x != y) return x < y;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
      ++i;
      ++j;
    }
  }
  if (a.size() - i != b.size() - j) return a.size() - i < b.size() - j;
  return a < b;  // equal by value ("01" and "1"): still a strict order
}

void make_uidls_unique(const std::vector<std::string_view>& bases,
                       std::vector<std::string>& uidls) {
  assert(bases.size() == uidls.size());
  if (all_distinct(uidls)) return;  // the normal case stays O(n)
  // Base order, so the winner of a group does not depend on the session
  // order (which an index loss may change).
  std::vector<std::size_t> order(uidls.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return bases[a] < bases[b]; });
  make_uidls_unique_in_order(order, bases, uidls);
}

std::size_t make_uidls_unique_in_order(std::span<const std::size_t> priority,
                                       const std::vector<std::string_view>& bases,
                                       std::vector<std::string>& uidls, std::vector<bool>* renamed,
                                       std::span<const std::string_view> reserved) {
  assert(bases.size() == uidls.size() && priority.size() == uidls.size());
  if (all_distinct(uidls, reserved)) return 0;  // the normal case: nothing to do, stays O(n)

  // Every plain UIDL stays reserved, so a suffix never takes the UIDL that
  // another message gets from its own name.
  std::unordered_set<std::string> taken(uidls.begin(), uidls.end());
  std::unordered_set<std::string> kept;  // claimed UIDLs
  for (auto r : reserved) {
    taken.emplace(r);
    kept.emplace(r);
  }
  std::size_t changed = 0;
  for (std::size_t i : priority) {
    const std::string plain = uidls[i];
    if (kept.insert(plain).second) continue;  // the first claim wins
    std::string candidate;
    for (unsigned n = 2; candidate.empty() || taken.contains(candidate); ++n) {
      candidate = plain + "-" + std::to_string(n);
      if (candidate.size() > limits::max_uidl) {
        std::string h = hash_uidl(bases[i]);
        candidate = h;
        for (unsigned m = 2; taken.contains(candidate); ++m) {
          candidate = h + "-" + std::to_string(m);
        }
        break;
      }
    }
    taken.insert(candidate);
    kept.insert(candidate);
    uidls[i] = std::move(candidate);
    if (renamed != nullptr) (*renamed)[i] = true;
    ++changed;
  }
  return changed;
}

}  // namespace popbox::store::detail
