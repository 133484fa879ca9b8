// libFuzzer target for the ESMTP receiver session (smtp/session.hpp),
// driven as net/smtp_connection.cpp drives it: lines through
// core::LineReader, DATA bodies through core::DotDecoder, and a fake
// backend whose verdicts come from the input.
//
// Input layout: 2 header bytes, then the client's bytes.
//   byte 0: bit 0 strict AUTH; bit 1 STARTTLS available; bit 2 tiny
//           max_message_size (64); bits 3-4 refuse MAIL, RCPT
//   byte 1: bit 0 credentials right (strict); bit 1 refuse after DATA
//
// Invariants: every reply line is "NNN" + (' ' or '-') + text with a
// 2xx-5xx code, CRLF-terminated, no CR or LF inside; exactly one final
// reply per command line (none while an AUTH exchange asks for more: 334
// counts), one after a DATA body; DATA only with recipients; addresses
// handed to the backend hold no space or angle bracket; passwords are only
// handed over in strict mode; after STARTTLS the session is back to before
// EHLO.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/dot_codec.hpp"
#include "core/limits.hpp"
#include "core/line_reader.hpp"
#include "fuzz_common.hpp"
#include "smtp/session.hpp"

namespace {

using popbox::fuzz::escaped;
using popbox::smtp::Session;
using popbox::smtp::Step;
using Action = Step::Action;

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
    for (char c : line) FUZZ_CHECK(c != '\r' && c != '\n', "CR or LF inside: " + escaped(out));
    if (line[3] == ' ') ++finals;
  }
  return finals;
}

void check_address(const std::string& a) {
  FUZZ_CHECK(a.find_first_of(" \t<>") == std::string::npos, "bad address: " + escaped(a));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t opts = data[0], verdicts = data[1];
  std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);

  popbox::smtp::SessionOptions o;
  o.hostname = "smtp.test";
  o.strict_auth = opts & 1;
  o.starttls_available = opts & 2;
  if (opts & 4) o.max_message_size = 64;
  Session session(o);
  std::string out;
  session.greeting(out);
  FUZZ_CHECK(out.starts_with("220 ") && check_replies(out) == 1, "bad greeting");

  popbox::core::LineReader reader(popbox::limits::smtp_max_line);
  std::size_t pos = 0;
  for (int guard = 0; pos < in.size(); ++guard) {
    FUZZ_CHECK(guard < 1000000, "no end in sight");
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
    Step step = session.on_line(line, out);
    if (step.action == Action::check_auth) {
      FUZZ_CHECK(o.strict_auth, "credentials handed over in lax mode");
      FUZZ_CHECK(out.empty(), "output before the credentials check");
      step = session.auth_checked(verdicts & 1, out);
    }
    switch (step.action) {
      case Action::none:
        FUZZ_CHECK(check_replies(out) == 1, "not one reply to " + escaped(line));
        break;
      case Action::close:
        FUZZ_CHECK(check_replies(out) >= 1, "close without a reply");
        return 0;
      case Action::start_tls:
        FUZZ_CHECK(o.starttls_available && out == "220 2.0.0 Ready to start TLS\r\n", "STARTTLS");
        reader.discard();
        session.tls_started();
        FUZZ_CHECK(session.auth_user().empty() && session.recipients().empty(), "not reset");
        break;
      case Action::check_auth:
        FUZZ_CHECK(false, "check_auth twice");
        break;
      case Action::check_sender:
        FUZZ_CHECK(out.empty(), "output before the sender check");
        check_address(step.address);
        session.sender_checked((opts & 8) ? "550 5.7.1 no" : "", out);
        FUZZ_CHECK(check_replies(out) == 1, "not one reply to MAIL");
        break;
      case Action::check_recipient: {
        FUZZ_CHECK(out.empty() && !step.address.empty(), "RCPT check");
        check_address(step.address);
        const std::size_t before = session.recipients().size();
        const bool refuse = opts & 16;
        session.recipient_checked(refuse ? "451 4.3.0 no" : "", out);
        FUZZ_CHECK(check_replies(out) == 1, "not one reply to RCPT");
        FUZZ_CHECK(session.recipients().size() == before + (refuse ? 0 : 1), "recipient list");
        FUZZ_CHECK(session.recipients().size() <= popbox::limits::smtp_max_recipients,
                   "too many recipients");
        break;
      }
      case Action::receive_data: {
        FUZZ_CHECK(out.starts_with("354 ") && check_replies(out) == 1, "DATA reply");
        FUZZ_CHECK(!session.recipients().empty(), "DATA accepted without recipients");
        FUZZ_CHECK(reader.buffered() == 0, "bytes left in the line reader at DATA");
        popbox::core::DotDecoder dec;
        std::string body;
        pos += dec.decode(in.substr(pos), body);
        if (!dec.done()) return 0;
        out.clear();
        Step after = session.data_received(body.size() > o.max_message_size, out);
        if (after.action == Action::deliver) {
          FUZZ_CHECK(out.empty(), "output before delivery");
          session.delivered((verdicts & 2) ? "554 5.3.0 no" : "", "Q", out);
        }
        FUZZ_CHECK(check_replies(out) == 1, "not one reply after DATA");
        FUZZ_CHECK(session.recipients().empty(), "transaction not reset after DATA");
        break;
      }
      case Action::deliver:
        FUZZ_CHECK(false, "deliver asked for by a command line");
    }
  }
  return 0;
}
