// libFuzzer target for core::is_journal_stream (the JOURNAL_STREAM value
// "DEV:INODE" compared with stderr's fstat). Input: the variable's bytes.
// Checks against a slow reference: true exactly when the text is two
// non-empty decimal numbers that fit 64 bits, joined by one ':', and they
// equal the device and inode given; a NUL ends the text like getenv's.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "core/log.hpp"
#include "fuzz_common.hpp"

namespace {

// Decimal digits only, no sign or space, at most 2^64 - 1.
std::optional<unsigned long long> reference_number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  unsigned long long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    unsigned d = static_cast<unsigned>(c - '0');
    if (v > (~0ULL - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::optional<std::pair<unsigned long long, unsigned long long>> reference(const std::string& s) {
  auto colon = s.find(':');
  if (colon == std::string::npos) return std::nullopt;
  auto dev = reference_number(s.substr(0, colon));
  auto ino = reference_number(s.substr(colon + 1));
  if (!dev || !ino) return std::nullopt;
  return std::make_pair(*dev, *ino);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  text = text.substr(0, text.find('\0'));  // what getenv would give
  auto want = reference(text);
  const char* env = text.c_str();
  if (want) {
    FUZZ_CHECK(popbox::core::is_journal_stream(env, want->first, want->second),
               popbox::fuzz::escaped(text));
    FUZZ_CHECK(!popbox::core::is_journal_stream(env, want->first + 1, want->second),
               popbox::fuzz::escaped(text));
    FUZZ_CHECK(!popbox::core::is_journal_stream(env, want->first, want->second + 1),
               popbox::fuzz::escaped(text));
  } else {
    // No device and inode make a malformed value match.
    for (unsigned long long dev : {0ULL, 1ULL, 2049ULL, ~0ULL}) {
      for (unsigned long long ino : {0ULL, 1ULL, 12345ULL, ~0ULL}) {
        FUZZ_CHECK(!popbox::core::is_journal_stream(env, dev, ino), popbox::fuzz::escaped(text));
      }
    }
  }
  return 0;
}
