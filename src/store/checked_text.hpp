#pragma once
// The frame popbox-index, popbox-snapshot and popbox-usage share: a header line, lines of
// entries, and a last line "end <entry count> <checksum, 16 hex digits>"
// over every byte before it. Any doubt about the frame means: not ours.

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace popbox::store::detail {

/// FNV-1a over `data`: the checksum popbox's own files use (it tells a
/// torn or edited file from one popbox wrote; not a defence).
inline std::uint64_t fnv1a(std::string_view data) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

/// What an intact frame holds.
struct CheckedBody {
  std::string_view body;    ///< the entry lines, between header and trailer
  std::uint64_t count = 0;  ///< the entry count the trailer states
};

/// Checks `text`'s header, trailer and checksum (`sum` over everything
/// before the trailer); nullopt for anything truncated, foreign or altered.
template <typename Checksum>
std::optional<CheckedBody> open_checked(std::string_view text, std::string_view header,
                                        Checksum sum) {
  if (text.substr(0, header.size()) != header) return std::nullopt;
  if (text.empty() || text.back() != '\n') return std::nullopt;
  std::size_t trailer_start = text.rfind('\n', text.size() - 2);
  if (trailer_start == std::string_view::npos || trailer_start + 1 < header.size()) {
    return std::nullopt;
  }
  ++trailer_start;
  std::string_view trailer = text.substr(trailer_start);
  trailer.remove_suffix(1);  // '\n'
  if (trailer.substr(0, 4) != "end ") return std::nullopt;
  trailer.remove_prefix(4);
  CheckedBody out;
  auto [end, ec] = std::from_chars(trailer.data(), trailer.data() + trailer.size(), out.count);
  if (ec != std::errc() || end == trailer.data() || end == trailer.data() + trailer.size() ||
      *end != ' ') {
    return std::nullopt;
  }
  trailer.remove_prefix(static_cast<std::size_t>(end - trailer.data()) + 1);
  std::uint64_t stated = 0;
  if (trailer.size() != 16) return std::nullopt;
  auto [ptr, hec] = std::from_chars(trailer.data(), trailer.data() + 16, stated, 16);
  if (hec != std::errc() || ptr != trailer.data() + 16) return std::nullopt;
  if (stated != sum(text.substr(0, trailer_start))) return std::nullopt;
  out.body = text.substr(header.size(), trailer_start - header.size());
  return out;
}

/// Appends the trailer for `count` entries to `out` (header and entries
/// already in it), checksummed with `sum`.
template <typename Checksum>
void close_checked(std::string& out, std::uint64_t count, Checksum sum) {
  std::uint64_t s = sum(std::string_view(out));
  out += "end ";
  out += std::to_string(count);
  out += ' ';
  char hex[16];
  for (int i = 15; i >= 0; --i) {
    hex[i] = "0123456789abcdef"[s & 0xF];
    s >>= 4;
  }
  out.append(hex, 16);
  out += '\n';
}

}  // namespace popbox::store::detail
