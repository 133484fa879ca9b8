#include "bench/body_end.hpp"

#include <cstring>

namespace popbox::bench {

void BodyEnd::step(char c) noexcept {
  // The only proper prefix of "\r\n.\r\n" that is also a suffix of a partial
  // match is "\r": on a mismatch the automaton falls back to 1 or 0.
  if (c == terminator_[matched_]) {
    ++matched_;
  } else {
    matched_ = c == '\r' ? 1 : 0;
  }
}

std::size_t BodyEnd::scan(std::string_view in) noexcept {
  std::size_t pos = 0;
  // Finish a partial match byte by byte: at most four steps.
  while (pos < in.size() && matched_ > 0 && !done()) step(in[pos++]);
  if (!done() && pos < in.size()) {
    // No partial match is open here, so a terminator starts at or after pos:
    // one memmem over the block is the hot path.
    const void* hit =
        memmem(in.data() + pos, in.size() - pos, terminator_.data(), terminator_.size());
    if (hit != nullptr) {
      matched_ = terminator_.size();
      pos =
          static_cast<std::size_t>(static_cast<const char*>(hit) - in.data()) + terminator_.size();
    } else {
      // The state after the block depends only on its last four bytes.
      std::size_t tail = in.size() - pos > 4 ? in.size() - 4 : pos;
      matched_ = 0;
      for (std::size_t i = tail; i < in.size(); ++i) step(in[i]);
      pos = in.size();
    }
  }
  consumed_ += pos;
  return pos;
}

}  // namespace popbox::bench
