// Line-end conversion and mboxrd quoting.
#include "client/line_ends.hpp"

namespace popbox::client {

void CrlfToLf::convert(std::string_view in, std::string& out) {
  for (std::size_t i = 0; i < in.size();) {
    if (pending_cr_) {
      pending_cr_ = false;
      if (in[i] != '\n') out.push_back('\r');
    }
    // Copy the run up to the next CR in one go.
    std::size_t cr = in.find('\r', i);
    if (cr == std::string_view::npos) {
      out.append(in.substr(i));
      return;
    }
    out.append(in.substr(i, cr - i));
    pending_cr_ = true;
    i = cr + 1;
  }
}

void CrlfToLf::finish(std::string& out) {
  if (pending_cr_) out.push_back('\r');
  pending_cr_ = false;
}

void FromQuoter::flush_held(std::string& out, bool quoted) {
  if (quoted) out.push_back('>');
  out.append(held_gt_, '>');
  out.append(std::string_view("From ").substr(0, held_from_));
  held_gt_ = 0;
  held_from_ = 0;
  deciding_ = false;
}

void FromQuoter::quote(std::string_view in, std::string& out) {
  static constexpr std::string_view from = "From ";
  std::size_t i = 0;
  while (i < in.size()) {
    if (at_line_start_ || deciding_) {
      at_line_start_ = false;
      deciding_ = true;
      char c = in[i];
      if (held_from_ == 0 && c == '>') {
        ++held_gt_;
        ++i;
        continue;
      }
      if (c == from[held_from_]) {
        ++i;
        if (++held_from_ == from.size()) flush_held(out, true);
        continue;
      }
      flush_held(out, false);  // not a From_ line; c is handled below
    }
    std::size_t lf = in.find('\n', i);
    if (lf == std::string_view::npos) {
      out.append(in.substr(i));
      return;
    }
    out.append(in.substr(i, lf + 1 - i));
    i = lf + 1;
    at_line_start_ = true;
  }
}

void FromQuoter::finish(std::string& out) {
  if (deciding_) flush_held(out, false);
  at_line_start_ = true;
}

}  // namespace popbox::client
