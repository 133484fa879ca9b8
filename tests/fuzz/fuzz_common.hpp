#pragma once
// Helpers shared by the libFuzzer targets: a loud invariant check and the
// reference (obviously correct, slow) forms the codec is compared against.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace popbox::fuzz {

/// Aborts with a message when an invariant does not hold: libFuzzer records
/// the input as a crash.
#define FUZZ_CHECK(cond, what)                                                                    \
  do {                                                                                            \
    if (!(cond)) {                                                                                \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n  (%s)\n", __FILE__, __LINE__, #cond, \
                   std::string(what).c_str());                                                    \
      std::abort();                                                                               \
    }                                                                                             \
  } while (0)

/// Printable form of bytes for failure messages.
inline std::string escaped(std::string_view s, std::size_t max = 200) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

/// What a stored message looks like on the wire before dot-stuffing: bare LF
/// becomes CRLF, an unterminated last line gets CRLF. (The reference for
/// CrlfSizer and DotEncoder, written the slow, obvious way.)
inline std::string crlf_normalised(std::string_view stored) {
  std::string out;
  char prev = '\0';
  for (char c : stored) {
    if (c == '\n' && prev != '\r') out.push_back('\r');
    out.push_back(c);
    prev = c;
  }
  if (!stored.empty() && stored.back() != '\n') out += "\r\n";
  return out;
}

/// What TOP n sends (before stuffing): the header, the blank line ending it,
/// and `n` body lines of the normalised message.
inline std::string top_reference(std::string_view normalised, std::uint64_t n) {
  std::string out;
  bool in_header = true;
  std::uint64_t body = 0;
  std::size_t pos = 0;
  while (pos < normalised.size()) {
    std::size_t lf = normalised.find('\n', pos);
    std::size_t end = lf == std::string_view::npos ? normalised.size() : lf + 1;
    std::string_view line = normalised.substr(pos, end - pos);
    pos = end;
    if (in_header) {
      out.append(line);
      if (line == "\r\n") {
        in_header = false;
        if (n == 0) break;
      }
      continue;
    }
    if (body >= n) break;
    out.append(line);
    ++body;
  }
  return out;
}

/// A tiny deterministic generator for block sizes (so a crash replays).
class SplitRng {
 public:
  explicit SplitRng(std::uint32_t seed) : s_(seed * 2654435761u + 1) {}
  /// A block length in 1..max (max >= 1).
  std::size_t next(std::size_t max) {
    s_ = s_ * 1664525u + 1013904223u;
    std::uint32_t r = s_ >> 8;
    // Mostly tiny blocks, sometimes large ones.
    if ((r & 3) == 0) return 1 + (r >> 2) % max;
    return 1 + (r >> 2) % (max < 8 ? max : 8);
  }

 private:
  std::uint32_t s_;
};

}  // namespace popbox::fuzz
