#include "core/dot_codec.hpp"

#include <cstring>

namespace popbox::core {

void CrlfSizer::add(std::string_view block) noexcept {
  octets_ += block.size();
  for (char c : block) {
    if (c == '\n' && !prev_cr_) ++octets_;  // bare LF goes out as CRLF
    prev_cr_ = (c == '\r');
  }
  if (!block.empty()) at_line_start_ = (block.back() == '\n');
}

std::uint64_t CrlfSizer::total() const noexcept {
  // An unterminated last line is sent with a CRLF added. A lone CR at the
  // very end is left alone and followed by CRLF, like any other byte.
  return octets_ + (at_line_start_ ? 0 : 2);
}

// Called at each end of line; returns false when TOP's limit is reached.
bool DotEncoder::line_done(std::string& out) {
  out.append("\r\n");
  at_line_start_ = true;
  if (in_header_) {
    if (line_empty_) in_header_ = false;  // the blank line ending the header
  } else {
    ++body_lines_;
  }
  line_empty_ = true;
  if (limit_ && !in_header_ && body_lines_ >= *limit_) done_ = true;
  return !done_;
}

void DotEncoder::append_content(std::string_view s, std::string& out) {
  if (s.empty()) return;
  if (at_line_start_ && s.front() == '.') out.push_back('.');
  out.append(s);
  at_line_start_ = line_empty_ = false;
}

bool DotEncoder::encode(std::string_view block, std::string& out) {
  if (done_) return false;
  out.reserve(out.size() + block.size() + block.size() / 32 + 8);
  std::size_t pos = 0;
  if (prev_cr_ && !block.empty()) {
    // A CR held back at the end of the previous block: a line end if an LF
    // follows, otherwise plain content.
    prev_cr_ = false;
    if (block.front() == '\n') {
      pos = 1;
      if (!line_done(out)) return false;
    } else {
      append_content("\r", out);
    }
  }
  while (pos < block.size()) {
    // Copy up to the next LF in one go: the hot path.
    const void* lf = std::memchr(block.data() + pos, '\n', block.size() - pos);
    std::size_t end = lf ? static_cast<const char*>(lf) - block.data() : block.size();
    std::size_t seg_end = end;
    bool trailing_cr = seg_end > pos && block[seg_end - 1] == '\r';
    if (trailing_cr) --seg_end;  // part of CRLF, or held until the next block
    append_content(block.substr(pos, seg_end - pos), out);
    if (!lf) {
      prev_cr_ = trailing_cr;
      break;
    }
    pos = end + 1;
    if (!line_done(out)) return false;
  }
  return true;
}

void DotEncoder::finish(std::string& out) {
  if (!done_) {
    if (prev_cr_) append_content("\r", out);  // a CR ending the message is content
    prev_cr_ = false;
    if (!at_line_start_) out.append("\r\n");
  }
  out.append(".\r\n");
  done_ = true;
}

std::size_t DotDecoder::decode(std::string_view in, std::string& out) {
  std::size_t i = 0;
  while (i < in.size() && !done_) {
    char c = in[i++];
    switch (state_) {
      case State::line_start:
        if (c == '.') {
          state_ = State::dot_seen;
        } else {
          out.push_back(c);
          after_crlf_ = false;
          state_ = c == '\r' ? State::cr_seen : (c == '\n' ? State::line_start : State::in_line);
        }
        break;
      case State::dot_seen:
        if (c == '\r') {
          state_ = State::dot_cr_seen;
        } else if (c == '\n') {
          // ".\n" is a line holding one dot, never the end (SMTP smuggling).
          out.append(".\n");
          after_crlf_ = false;
          state_ = State::line_start;
        } else {
          out.push_back(c);  // the stuffed dot is dropped, this byte kept
          state_ = State::in_line;
        }
        break;
      case State::dot_cr_seen:
        if (c == '\n' && after_crlf_) {
          done_ = true;  // CRLF "." CRLF
        } else if (c == '\n') {
          out.append(".\r\n");  // LF "." CRLF is data too
          after_crlf_ = true;
          state_ = State::line_start;
        } else {
          out.push_back('\r');
          out.push_back(c);
          state_ = c == '\r' ? State::cr_seen : State::in_line;
        }
        break;
      case State::in_line:
        out.push_back(c);
        if (c == '\r') state_ = State::cr_seen;
        if (c == '\n') {
          after_crlf_ = false;
          state_ = State::line_start;
        }
        break;
      case State::cr_seen:
        out.push_back(c);
        if (c == '\n') after_crlf_ = true;
        state_ = c == '\n' ? State::line_start : (c == '\r' ? State::cr_seen : State::in_line);
        break;
    }
  }
  return i;
}

}  // namespace popbox::core
