// libFuzzer target for the LMTP server session (lmtp/session.hpp), driven as
// a listener drives it: command lines through core::LineReader, the DATA
// body through core::DotDecoder, and a fake recipient lookup and delivery.
//
// Input layout: 2 header bytes, then the client's bytes.
//   byte 0: bits 0-1 lookup result for recipients whose address ends in
//           '1'-'3' (others: the digit % 4 picks ok, unknown, over quota,
//           temporary failure); bit 2 quota is temporary; bit 3 tiny
//           max_message_size (64 bytes)
//   byte 1: delivery result for every recipient (value % 4, as above)
//
// Invariants: every reply line is "NNN" + (' ' or '-') + text with a
// 2xx-5xx code, CRLF-terminated, with no CR or LF inside; exactly one
// reply per command, one per accepted recipient after the body; DATA is
// only accepted with recipients; recipient addresses handed to the lookup
// are non-empty and hold no space, tab or angle bracket; QUIT closes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/dot_codec.hpp"
#include "core/limits.hpp"
#include "core/line_reader.hpp"
#include "fuzz_common.hpp"
#include "lmtp/session.hpp"

namespace {

using popbox::fuzz::escaped;
using popbox::lmtp::RcptStatus;
using popbox::lmtp::Session;
using popbox::lmtp::Step;
using Action = Step::Action;

RcptStatus status_of(unsigned v) {
  static const RcptStatus table[4] = {RcptStatus::ok, RcptStatus::no_such_user,
                                      RcptStatus::over_quota, RcptStatus::temp_failure};
  return table[v % 4];
}

/// Splits replies into lines and checks each; returns how many replies
/// (final lines: code followed by a space) there were.
std::size_t check_replies(std::string_view out) {
  std::size_t finals = 0, pos = 0;
  while (pos < out.size()) {
    std::size_t crlf = out.find("\r\n", pos);
    FUZZ_CHECK(crlf != std::string_view::npos, "reply without CRLF: " + escaped(out));
    std::string_view line = out.substr(pos, crlf - pos);
    pos = crlf + 2;
    FUZZ_CHECK(line.size() >= 4 && line[0] >= '2' && line[0] <= '5' && line[1] >= '0' &&
                   line[1] <= '9' && line[2] >= '0' && line[2] <= '9' &&
                   (line[3] == ' ' || line[3] == '-'),
               "malformed reply line: " + escaped(out));
    for (char c : line) {
      FUZZ_CHECK(c != '\r' && c != '\n', "CR or LF inside a reply: " + escaped(out));
    }
    if (line[3] == ' ') ++finals;
  }
  return finals;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t opts = data[0], deliver_result = data[1];
  std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);

  popbox::lmtp::SessionOptions o;
  o.hostname = "lmtp.test";
  o.quota_temporary = opts & 4;
  if (opts & 8) o.max_message_size = 64;
  Session session(o);
  std::string out;
  session.greeting(out);
  FUZZ_CHECK(out.starts_with("220 ") && check_replies(out) == 1, "bad greeting");

  // As net/lmtp_connection.cpp reads commands.
  popbox::core::LineReader reader(popbox::limits::max_line);
  std::size_t pos = 0;
  for (int guard = 0; pos < in.size(); ++guard) {
    FUZZ_CHECK(guard < 1000000, "no end in sight");
    // Feed one line at most, so a DATA body stays in `in` for the decoder.
    std::size_t lf = in.find('\n', pos);
    std::size_t end = lf == std::string_view::npos ? in.size() : lf + 1;
    reader.feed(in.substr(pos, end - pos));
    pos = end;
    std::string_view line;
    auto r = reader.next(line);
    if (r == popbox::core::LineReader::Result::need_more) continue;
    out.clear();
    if (r == popbox::core::LineReader::Result::too_long) {
      Step step = session.on_line_too_long(out);
      FUZZ_CHECK(step.action == Action::close && check_replies(out) == 1, "too long");
      return 0;
    }
    const std::size_t before = session.recipients().size();
    Step step = session.on_line(line, out);
    switch (step.action) {
      case Action::none:
        FUZZ_CHECK(check_replies(out) == 1, "not one reply to " + escaped(line));
        break;
      case Action::close:
        FUZZ_CHECK(check_replies(out) >= 1, "close without a reply");
        return 0;
      case Action::check_recipient: {
        FUZZ_CHECK(out.empty(), "output before the lookup");
        const std::string& a = step.address;
        FUZZ_CHECK(!a.empty() && a.find_first_of(" \t<>") == std::string::npos,
                   "bad recipient handed to the lookup: " + escaped(a));
        unsigned digit = static_cast<unsigned char>(a.back());
        RcptStatus st = status_of(digit >= '1' && digit <= '3' ? (opts & 3) : digit);
        session.recipient_checked(st, out);
        FUZZ_CHECK(check_replies(out) == 1, "not one reply to RCPT");
        FUZZ_CHECK(session.recipients().size() == before + (st == RcptStatus::ok ? 1 : 0),
                   "recipient list does not follow the lookup");
        FUZZ_CHECK(session.recipients().size() <= 1000, "more than 1000 recipients");
        break;
      }
      case Action::receive_data: {
        FUZZ_CHECK(out.starts_with("354 ") && check_replies(out) == 1, "DATA reply");
        const std::size_t rcpts = session.recipients().size();
        FUZZ_CHECK(rcpts > 0, "DATA accepted without recipients");
        // The body follows the DATA line; the reader holds nothing more.
        FUZZ_CHECK(reader.buffered() == 0, "bytes left in the line reader at DATA");
        popbox::core::DotDecoder dec;
        std::string body;
        pos += dec.decode(in.substr(pos), body);
        if (!dec.done()) return 0;  // the client hung up in the body
        out.clear();
        Step after = session.data_received(body.size() > o.max_message_size, out);
        if (after.action == Action::deliver) {
          FUZZ_CHECK(out.empty(), "output before delivery");
          std::vector<RcptStatus> results(rcpts, status_of(deliver_result));
          session.delivered(results, out);
        }
        FUZZ_CHECK(check_replies(out) == rcpts, "not one reply per recipient after DATA");
        FUZZ_CHECK(session.recipients().empty(), "transaction not reset after DATA");
        break;
      }
      case Action::deliver:
        FUZZ_CHECK(false, "deliver asked for by a command line");
    }
  }
  return 0;
}
