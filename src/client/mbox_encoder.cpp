// The mbox stored form: "From " line, quoting, line ends.
#include "client/mbox_encoder.hpp"

#include <fmt/format.h>

#include <ctime>

#include "core/limits.hpp"

namespace popbox::client {

std::string mbox_from_line(std::int64_t unix_time, std::string_view sender) {
  std::time_t t = static_cast<std::time_t>(unix_time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a %b %e %H:%M:%S %Y", &tm);
  return fmt::format("From {} {}\n", sender, buf);
}

std::string mbox_envelope_sender(std::string_view head) {
  constexpr std::string_view name = "return-path:";
  while (!head.empty() && head.front() != '\n') {
    std::size_t lf = head.find('\n');
    if (lf == std::string_view::npos) break;  // only whole lines count
    std::string_view line = head.substr(0, lf);
    head.remove_prefix(lf + 1);
    if (line.size() < name.size()) continue;
    bool match = true;
    for (std::size_t i = 0; i < name.size() && match; ++i) {
      char c = line[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      match = c == name[i];
    }
    if (!match) continue;
    std::string_view v = line.substr(name.size());
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) {
      v.remove_suffix(1);
    }
    if (v.size() >= 2 && v.front() == '<' && v.back() == '>') v = v.substr(1, v.size() - 2);
    if (v.empty()) return "MAILER-DAEMON";  // "<>": a bounce
    // One word of visible ASCII, or the "From " line would not parse back.
    if (v.size() > limits::mbox_max_sender) return {};
    for (char c : v) {
      if (c < 0x21 || c > 0x7e) return {};
    }
    return std::string(v);
  }
  return {};
}

MboxEncoder::MboxEncoder(std::int64_t from_time) : from_time_(from_time) {}

void MboxEncoder::encode(std::string_view wire, std::string& out) {
  lf_.clear();
  quoted_.clear();
  crlf_.convert(wire, lf_);
  quoter_.quote(lf_, quoted_);
  hold(out);
}

void MboxEncoder::finish(std::string& out) {
  lf_.clear();
  quoted_.clear();
  crlf_.finish(lf_);
  quoter_.quote(lf_, quoted_);
  quoter_.finish(quoted_);
  // The wire form always ends in a line break; the blank line separates
  // this message from the next "From " line.
  quoted_.push_back('\n');
  hold(out);
  release(out);
}

// The start of the message waits until its header is complete: the
// "From " line names the sender of its Return-Path:.
void MboxEncoder::hold(std::string& out) {
  if (from_written_) {
    out.append(quoted_);
    return;
  }
  head_.append(quoted_);
  // The header ends at the first empty line (the quoted form keeps it).
  bool done = head_.starts_with('\n') || head_.find("\n\n") != std::string::npos;
  if (done || head_.size() >= limits::mbox_header_scan) release(out);
}

void MboxEncoder::release(std::string& out) {
  if (from_written_) return;
  from_written_ = true;
  // Only the first mbox_header_scan octets count, however the message
  // arrived: a resumed delivery must write the same "From " line.
  std::string sender =
      mbox_envelope_sender(std::string_view(head_).substr(0, limits::mbox_header_scan));
  out.append(mbox_from_line(from_time_, sender.empty() ? "MAILER-DAEMON" : sender));
  out.append(head_);
  head_.clear();
}

}  // namespace popbox::client
