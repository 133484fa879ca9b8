// Received bytes to wire form, in chunks.
#include "store/postgres/wire_form.hpp"

#include <cstring>

namespace popbox::store::pg {

WireChunker::WireChunker(std::size_t chunk_size, Sink sink)
    : chunk_size_(chunk_size ? chunk_size : 1), sink_(std::move(sink)) {
  buf_.reserve(chunk_size_);
}

std::error_code WireChunker::put(char c) {
  buf_.push_back(c);
  ++size_;
  return buf_.size() == chunk_size_ ? flush() : std::error_code{};
}

std::error_code WireChunker::flush() {
  if (buf_.empty()) return {};
  std::error_code ec = sink_(buf_);
  buf_.clear();
  return ec;
}

std::error_code WireChunker::write(std::string_view block) {
  std::size_t i = 0;
  while (i < block.size()) {
    // Copy the run up to the next LF in one go: the common case is long
    // lines already ending in CRLF.
    const void* lf = std::memchr(block.data() + i, '\n', block.size() - i);
    const std::size_t end =
        lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - block.data()) : block.size();
    while (i < end) {
      const std::size_t n = std::min(end - i, chunk_size_ - buf_.size());
      buf_.append(block.data() + i, n);
      size_ += n;
      i += n;
      last_cr_ = block[i - 1] == '\r';
      at_line_start_ = false;
      if (buf_.size() == chunk_size_) {
        if (std::error_code ec = flush()) return ec;
      }
    }
    if (i == block.size()) break;
    // block[i] is LF.
    if (!last_cr_) {
      if (std::error_code ec = put('\r')) return ec;
    }
    if (std::error_code ec = put('\n')) return ec;
    last_cr_ = false;
    at_line_start_ = true;
    ++i;
  }
  return {};
}

std::error_code WireChunker::finish() {
  if (!at_line_start_) {
    // An unterminated last line gets CRLF; a lone CR at the very end is
    // content like any other byte (as core::CrlfSizer counts it).
    if (std::error_code ec = put('\r')) return ec;
    if (std::error_code ec = put('\n')) return ec;
    at_line_start_ = true;
    last_cr_ = false;
  }
  return flush();
}

std::string to_wire_form(std::string_view text) {
  std::string out;
  WireChunker chunker(64 * 1024, [&](std::string_view c) {
    out.append(c);
    return std::error_code{};
  });
  chunker.write(text);
  chunker.finish();
  return out;
}

}  // namespace popbox::store::pg
