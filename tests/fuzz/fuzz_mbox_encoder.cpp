// libFuzzer target for the mbox stored form (client/mbox_encoder.hpp): the
// input is a message as a hostile server sends it (un-stuffed wire bytes).
//
// Input layout: byte 0 = split seed, the rest = the message.
//
// Invariants:
//  * the output does not depend on how the message is cut into blocks;
//  * it is one "From SENDER DATE" line, then the message with LF line ends
//    where it had CRLF, and a blank line: no other line starts with
//    "From " (mboxrd quoting), so a reader finds exactly one message;
//  * SENDER is one word of visible ASCII, at most mbox_max_sender octets
//    (the address of a message that starts with a usable Return-Path:);
//  * un-quoting (one '>' off every ">*From " line) gives back the LF form.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "client/mbox_encoder.hpp"
#include "core/limits.hpp"
#include "fuzz_common.hpp"

using popbox::client::mbox_envelope_sender;
using popbox::client::mbox_from_line;
using popbox::client::MboxEncoder;
using popbox::fuzz::escaped;
using popbox::fuzz::SplitRng;

namespace {

constexpr std::int64_t kTime = 1700000000;

std::string encode(std::string_view msg, SplitRng* rng) {
  MboxEncoder e(kTime);
  std::string out;
  std::size_t pos = 0;
  while (pos < msg.size()) {
    std::size_t n = rng ? rng->next(msg.size() - pos) : msg.size() - pos;
    e.encode(msg.substr(pos, n), out);
    pos += n;
  }
  e.finish(out);
  return out;
}

// The reference LF form: CRLF becomes LF, nothing else changes.
std::string lf_form(std::string_view msg) {
  std::string out;
  for (std::size_t i = 0; i < msg.size(); ++i) {
    if (msg[i] == '\r' && i + 1 < msg.size() && msg[i + 1] == '\n') continue;
    out.push_back(msg[i]);
  }
  return out;
}

// Drops one '>' from every line that is ">" * n + "From " (n >= 1).
std::string unquote(std::string_view body) {
  std::string out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t lf = body.find('\n', pos);
    std::size_t end = lf == std::string_view::npos ? body.size() : lf + 1;
    std::string_view line = body.substr(pos, end - pos);
    std::size_t q = line.find_first_not_of('>');
    if (q != std::string_view::npos && q >= 1 && line.substr(q).starts_with("From ")) {
      line.remove_prefix(1);
    }
    out.append(line);
    pos = end;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::string_view msg(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string whole = encode(msg, nullptr);
  SplitRng rng(data[0]);
  FUZZ_CHECK(encode(msg, &rng) == whole, "output depends on the block boundaries");

  std::size_t lf = whole.find('\n');
  FUZZ_CHECK(lf != std::string::npos, "no From line");
  std::string_view from = std::string_view(whole).substr(0, lf + 1);
  FUZZ_CHECK(from.starts_with("From "), escaped(from));
  std::string_view rest = std::string_view(from).substr(5);
  std::size_t sp = rest.find(' ');
  FUZZ_CHECK(sp != std::string_view::npos, escaped(from));
  std::string sender(rest.substr(0, sp));
  FUZZ_CHECK(!sender.empty() && sender.size() <= popbox::client::limits::mbox_max_sender,
             escaped(from));
  for (char c : sender) FUZZ_CHECK(c > 0x20 && c < 0x7f, escaped(from));
  FUZZ_CHECK(from == mbox_from_line(kTime, sender), escaped(from));
  std::string lf_msg = lf_form(msg);
  // A message that starts with a usable Return-Path: line names it.
  if (lf_msg.starts_with("Return-Path: <") && lf_msg.find(">\n") != std::string::npos) {
    std::string want = mbox_envelope_sender(lf_msg.substr(0, lf_msg.find(">\n") + 2));
    if (!want.empty()) FUZZ_CHECK(sender == want, escaped(from) + " want " + want);
  }

  std::string_view body = std::string_view(whole).substr(lf + 1);
  FUZZ_CHECK(body.ends_with("\n"), "no blank line after the message");
  for (std::size_t p = 0; p < body.size();) {
    FUZZ_CHECK(!body.substr(p).starts_with("From "), "an unquoted From line inside");
    std::size_t next = body.find('\n', p);
    if (next == std::string_view::npos) break;
    p = next + 1;
  }
  std::string back = unquote(body.substr(0, body.size() - 1));
  FUZZ_CHECK(back == lf_msg, "un-quoting does not give back the LF form: " + escaped(back));
  return 0;
}
