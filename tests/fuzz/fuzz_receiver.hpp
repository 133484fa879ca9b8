#pragma once
// What the LMTP and ESMTP session fuzzers share: the reply-line check and
// the driver that feeds a session as net/lmtp_connection.cpp and
// net/smtp_connection.cpp do: command lines through core::LineReader, DATA
// bodies through core::DotDecoder. The protocol's own verdicts and actions
// come from a hooks object.
//
// Invariants checked for both: every reply line is "NNN" + (' ' or '-') +
// text with a 2xx-5xx code, CRLF-terminated, with no CR or LF inside;
// exactly one final reply per command line; DATA is only accepted with
// recipients and leaves nothing in the line reader; recipient addresses
// handed to the lookup are non-empty and hold no space, tab or angle
// bracket, and the recipient list follows the lookup's verdicts up to the
// bound; after the body the transaction is reset; QUIT closes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "core/dot_codec.hpp"
#include "core/line_reader.hpp"
#include "fuzz_common.hpp"

namespace popbox::fuzz {

/// Splits replies into lines and checks each; returns how many replies
/// (final lines: code followed by a space) there were.
inline std::size_t check_replies(std::string_view out) {
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

/// An address handed to the backend holds no space, tab or angle bracket.
inline void check_address(std::string_view a) {
  FUZZ_CHECK(a.find_first_of(" \t<>") == std::string_view::npos, "bad address: " + escaped(a));
}

/// The bounds a receiver session was set up with.
struct ReceiverBounds {
  std::size_t max_line;
  std::uint64_t max_message_size;
  std::size_t max_recipients;
};

/// Drives `session` over the client's bytes `in` until they end or the
/// session closes. `hooks` gives the protocol's part:
///   void after_line(Step&, std::string& out): answers what the session
///       asks for before its reply (SMTP's credentials check);
///   bool other_action(const Step&, core::LineReader&, std::string& out):
///       handles an action the driver does not know; false if it is none;
///   bool check_recipient(const std::string& address, std::string& out):
///       gives the lookup's verdict to the session; true if it accepted;
///   void deliver(std::string& out): gives the delivery's outcome;
///   std::size_t replies_after_data(std::size_t recipients).
template <class Session, class Hooks>
void drive_receiver(Session& session, Hooks& hooks, std::string_view in,
                    const ReceiverBounds& bounds) {
  using Step =
      decltype(std::declval<Session&>().on_line(std::string_view{}, std::declval<std::string&>()));
  using Action = typename Step::Action;
  std::string out;
  session.greeting(out);
  FUZZ_CHECK(out.starts_with("220 ") && check_replies(out) == 1, "bad greeting");

  core::LineReader reader(bounds.max_line);
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
    if (r == core::LineReader::Result::need_more) continue;
    out.clear();
    if (r == core::LineReader::Result::too_long) {
      Step step = session.on_line_too_long(out);
      FUZZ_CHECK(step.action == Action::close && check_replies(out) == 1, "too long");
      return;
    }
    Step step = session.on_line(line, out);
    hooks.after_line(step, out);
    switch (step.action) {
      case Action::none:
        FUZZ_CHECK(check_replies(out) == 1, "not one reply to " + escaped(line));
        break;
      case Action::close:
        FUZZ_CHECK(check_replies(out) >= 1, "close without a reply");
        return;
      case Action::check_recipient: {
        FUZZ_CHECK(out.empty(), "output before the lookup");
        FUZZ_CHECK(!step.address.empty(), "empty recipient handed to the lookup");
        check_address(step.address);
        const std::size_t before = session.recipients().size();
        const bool accepted = hooks.check_recipient(step.address, out);
        FUZZ_CHECK(check_replies(out) == 1, "not one reply to RCPT");
        FUZZ_CHECK(session.recipients().size() == before + (accepted ? 1 : 0),
                   "recipient list does not follow the lookup");
        FUZZ_CHECK(session.recipients().size() <= bounds.max_recipients, "too many recipients");
        break;
      }
      case Action::receive_data: {
        FUZZ_CHECK(out.starts_with("354 ") && check_replies(out) == 1, "DATA reply");
        const std::size_t rcpts = session.recipients().size();
        FUZZ_CHECK(rcpts > 0, "DATA accepted without recipients");
        // The body follows the DATA line; the reader holds nothing more.
        FUZZ_CHECK(reader.buffered() == 0, "bytes left in the line reader at DATA");
        core::DotDecoder dec;
        std::string body;
        pos += dec.decode(in.substr(pos), body);
        if (!dec.done()) return;  // the client hung up in the body
        out.clear();
        Step after = session.data_received(body.size() > bounds.max_message_size, out);
        if (after.action == Action::deliver) {
          FUZZ_CHECK(out.empty(), "output before delivery");
          hooks.deliver(out);
        }
        FUZZ_CHECK(check_replies(out) == hooks.replies_after_data(rcpts),
                   "not the replies due after DATA");
        FUZZ_CHECK(session.recipients().empty(), "transaction not reset after DATA");
        break;
      }
      case Action::deliver:
        FUZZ_CHECK(false, "deliver asked for by a command line");
        break;
      default:
        FUZZ_CHECK(hooks.other_action(step, reader, out), "an action nobody handles");
    }
  }
}

}  // namespace popbox::fuzz
