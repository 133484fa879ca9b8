// libFuzzer target for the ESMTP receiver session (smtp/session.hpp),
// driven as net/smtp_connection.cpp drives it (fuzz_receiver.hpp: lines
// through core::LineReader, DATA bodies through core::DotDecoder), with a
// fake backend whose verdicts come from the input.
//
// Input layout: 2 header bytes, then the client's bytes.
//   byte 0: bit 0 strict AUTH; bit 1 STARTTLS available; bit 2 tiny
//           max_message_size (64); bits 3-4 refuse MAIL, RCPT
//   byte 1: bit 0 credentials right (strict); bit 1 refuse after DATA
//
// Invariants: those of fuzz_receiver.hpp (an AUTH exchange asking for more
// answers 334, which counts as the reply), and: one reply after a DATA
// body; addresses handed to the backend hold no space or angle bracket;
// passwords are only handed over in strict mode; after STARTTLS the session
// is back to before EHLO.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/limits.hpp"
#include "fuzz_receiver.hpp"
#include "smtp/session.hpp"

namespace {

using popbox::smtp::Session;
using popbox::smtp::Step;
using Action = Step::Action;

struct Hooks {
  Session& session;
  const popbox::smtp::SessionOptions& o;
  std::uint8_t opts, verdicts;

  void after_line(Step& step, std::string& out) {
    if (step.action != Action::check_auth) return;
    FUZZ_CHECK(o.strict_auth, "credentials handed over in lax mode");
    FUZZ_CHECK(out.empty(), "output before the credentials check");
    step = session.auth_checked(verdicts & 1, out);
  }
  bool other_action(const Step& step, popbox::core::LineReader& reader, std::string& out) {
    switch (step.action) {
      case Action::start_tls:
        FUZZ_CHECK(o.starttls_available && out == "220 2.0.0 Ready to start TLS\r\n", "STARTTLS");
        reader.discard();
        session.tls_started();
        FUZZ_CHECK(session.auth_user().empty() && session.recipients().empty(), "not reset");
        return true;
      case Action::check_auth:
        FUZZ_CHECK(false, "check_auth twice");
        return true;
      case Action::check_sender:
        FUZZ_CHECK(out.empty(), "output before the sender check");
        popbox::fuzz::check_address(step.address);
        session.sender_checked((opts & 8) ? "550 5.7.1 no" : "", out);
        FUZZ_CHECK(popbox::fuzz::check_replies(out) == 1, "not one reply to MAIL");
        return true;
      default:
        return false;
    }
  }
  bool check_recipient(const std::string&, std::string& out) {
    const bool refuse = opts & 16;
    session.recipient_checked(refuse ? "451 4.3.0 no" : "", out);
    return !refuse;
  }
  void deliver(std::string& out) {
    session.delivered((verdicts & 2) ? "554 5.3.0 no" : "", "Q", out);
  }
  std::size_t replies_after_data(std::size_t) { return 1; }
};

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
  Hooks hooks{session, o, opts, verdicts};
  popbox::fuzz::drive_receiver(
      session, hooks, in,
      {popbox::limits::smtp_max_line, o.max_message_size, popbox::limits::smtp_max_recipients});
  return 0;
}
