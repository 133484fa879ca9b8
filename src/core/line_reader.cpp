#include "core/line_reader.hpp"

namespace popbox::core {

void LineReader::feed(std::string_view data) {
  // Compact lazily: moving the tail only when the consumed head dominates
  // keeps pipelined input linear.
  if (pos_ > 0 && pos_ * 2 >= buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(data);
}

LineReader::Result LineReader::next(std::string_view& line) {
  std::size_t lf = buf_.find('\n', pos_);
  if (lf == std::string::npos) {
    if (pos_ == buf_.size()) release();
    return buffered() > max_line_ ? Result::too_long : Result::need_more;
  }
  if (lf + 1 - pos_ > max_line_) return Result::too_long;
  std::size_t end = lf;
  if (end > pos_ && buf_[end - 1] == '\r') --end;
  line = std::string_view(buf_).substr(pos_, end - pos_);
  pos_ = lf + 1;
  return Result::line;
}

void LineReader::release() noexcept {
  // An idle connection waits with an empty reader: it holds no heap memory.
  std::string().swap(buf_);
  pos_ = 0;
}

}  // namespace popbox::core
