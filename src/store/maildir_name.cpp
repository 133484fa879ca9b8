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

bool is_uidl_text(std::string_view s) noexcept {
  if (s.empty() || s.size() > limits::max_uidl) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x21 && u <= 0x7E;
  });
}

}  // namespace

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
  if (is_uidl_text(stripped)) return stripped;
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

void make_uidls_unique(const std::vector<std::string_view>& bases,
                       std::vector<std::string>& uidls) {
  assert(bases.size() == uidls.size());
  std::unordered_map<std::string_view, std::size_t> seen;
  seen.reserve(uidls.size());
  bool collision = false;
  for (std::size_t i = 0; i < uidls.size() && !collision; ++i) {
    collision = !seen.emplace(uidls[i], i).second;
  }
  if (!collision) return;  // the normal case: nothing to do, stays O(n)

  // Visit in base order so the winner of a group does not depend on the
  // session order (which an index loss may change).
  std::vector<std::size_t> order(uidls.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return bases[a] < bases[b]; });
  // Every plain UIDL stays reserved, so a suffix never takes the UIDL that
  // another message gets from its own name.
  std::unordered_map<std::string, std::size_t> count;  // plain UIDL -> messages using it
  for (const auto& u : uidls) ++count[u];
  std::unordered_set<std::string> taken;
  for (const auto& [u, n] : count) taken.insert(u);
  std::unordered_set<std::string> kept;  // groups whose winner is chosen
  for (std::size_t i : order) {
    const std::string plain = uidls[i];
    if (count[plain] == 1 || kept.insert(plain).second) continue;
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
    uidls[i] = std::move(candidate);
  }
}

}  // namespace popbox::store::detail
