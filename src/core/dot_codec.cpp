#include "core/dot_codec.hpp"

#include <cstring>

namespace popbox::core {

void CrlfSizer::add(std::string_view block) noexcept {
  if (block.empty()) return;
  octets_ += block.size();
  // One memchr per line: only the byte before each LF matters.
  const char* const begin = block.data();
  const char* const end = begin + block.size();
  for (const char* p = begin;
       (p = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)))) !=
       nullptr;
       ++p) {
    bool after_cr = p == begin ? prev_cr_ : p[-1] == '\r';
    if (!after_cr) ++octets_;  // bare LF goes out as CRLF
  }
  prev_cr_ = end[-1] == '\r';
  at_line_start_ = end[-1] == '\n';
}

std::uint64_t CrlfSizer::total() const noexcept {
  // An unterminated last line is sent with a CRLF added. A lone CR at the
  // very end is left alone and followed by CRLF, like any other byte.
  return octets_ + (at_line_start_ ? 0 : 2);
}

// Writes the CRLF ending a line and counts the line; reaching TOP's limit
// sets done_.
char* DotEncoder::end_line(char* w) noexcept {
  w[0] = '\r';
  w[1] = '\n';
  at_line_start_ = true;
  if (in_header_) {
    if (line_empty_) in_header_ = false;  // the blank line ending the header
  } else {
    ++body_lines_;
  }
  line_empty_ = true;
  if (limit_ && !in_header_ && body_lines_ >= *limit_) done_ = true;
  return w + 2;
}

bool DotEncoder::encode(std::string_view block, std::string& out) {
  if (done_) return false;
  if (block.empty()) return true;
  // Written through a pointer into room made once: one memchr and one
  // memcpy per line, no per-byte work and no per-append checks.
  const std::size_t start = out.size();
  out.resize(start + max_expansion * block.size());
  char* w = out.data() + start;
  const char* p = block.data();
  const char* const end = p + block.size();
  if (prev_cr_) {
    // A CR held back at the end of the previous block: a line end if an LF
    // follows, otherwise plain content.
    prev_cr_ = false;
    if (*p == '\n') {
      ++p;
      w = end_line(w);
    } else {
      *w++ = '\r';
      at_line_start_ = line_empty_ = false;
    }
  }
  while (!done_ && p < end) {
    if (at_line_start_ && *p == '.') *w++ = '.';
    const char* lf = static_cast<const char*>(std::memchr(p, '\n', end - p));
    const char* stop = lf ? lf : end;
    // A CR right before the LF is part of the line end; one at the end of
    // the block is held until the next byte shows which it is.
    const bool cr = stop > p && stop[-1] == '\r';
    const char* content_end = cr ? stop - 1 : stop;
    if (content_end > p) {
      std::memcpy(w, p, static_cast<std::size_t>(content_end - p));
      w += content_end - p;
      at_line_start_ = line_empty_ = false;
    }
    if (!lf) {
      prev_cr_ = cr;
      break;
    }
    p = lf + 1;
    w = end_line(w);
  }
  out.resize(static_cast<std::size_t>(w - out.data()));
  return !done_;
}

void DotEncoder::finish(std::string& out) {
  if (!done_) {
    // A CR ending the message is content (never a dot, so never stuffed).
    if (prev_cr_) out.push_back('\r');
    if (prev_cr_ || !at_line_start_) out.append("\r\n");
    prev_cr_ = false;
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
