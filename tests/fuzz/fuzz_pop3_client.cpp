// libFuzzer target for the POP3 client state machine (client/session.hpp):
// the input is what a hostile or broken server sends. A fake engine reacts
// to the events as the real one does (retrieve every listed message, maybe
// delete it, quit), and a fake driver does the STLS handshake.
//
// Input layout: 3 header bytes, then the server's bytes.
//   byte 0: bits 0-1 TLS mode (0 implicit, 1 starttls, 2 none, 3 implicit),
//           bits 2-4 auth mechanism (0 auto, 1 user, 2 plain, 3 login, 4 apop,
//           5 xoauth2, 6 oauthbearer, 7 auto), bit 5 pipeline window of 2,
//           bit 6 at most 3 UIDL/LIST entries
//   byte 1: bit 0 delete each message after retrieving it, bit 1 quit
//           without retrieving anything
//   byte 2: size of the blocks the server bytes arrive in (0 = all at once)
//
// Invariants:
//  * the secret (and every encoding of it popbox sends) never leaves in
//    plaintext unless the account says tls = "none";
//  * commands are CRLF-terminated lines with no CR, LF or NUL inside;
//  * receive() always makes progress, never uses more than it is given;
//  * body events come in begin/data/end order for a message that was
//    asked for; DELE results only for messages that were deleted; RETR
//    results only for messages that were retrieved;
//  * once closed or failed, nothing more happens; a failure has a code.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "client/auth.hpp"
#include "client/session.hpp"
#include "core/base64.hpp"
#include "fuzz_common.hpp"

namespace {

using popbox::client::AuthMech;
using popbox::client::Session;
using popbox::client::TlsMode;
using popbox::fuzz::escaped;
using Kind = Session::EventKind;

constexpr std::string_view kUser = "alice@example.com";
constexpr std::string_view kSecret = "s3cr3t-PW";

class Harness {
 public:
  Harness(std::uint8_t opts, std::uint8_t engine)
      : tls_(tls_mode(opts & 3)),
        delete_(engine & 1),
        quit_only_(engine & 2),
        session_(options(opts)),
        secure_(tls_ == TlsMode::implicit) {
    // What must never cross a link without TLS (unless tls = "none").
    secrets_ = {std::string(kSecret), popbox::client::sasl_plain(kUser, kSecret),
                popbox::core::base64_encode(kSecret), popbox::client::sasl_xoauth2(kUser, kSecret),
                popbox::client::sasl_oauthbearer(kUser, "pop.test", 995, kSecret)};
  }

  /// Feeds the server's bytes; returns when they are used up or the session ended.
  void run(std::string_view server, std::size_t block) {
    std::size_t pos = 0;
    std::string_view pending;
    bool last_event = false;
    for (int guard = 0;; ++guard) {
      FUZZ_CHECK(guard < 1000000, "no end in sight");
      flush();
      if (session_.finished()) break;
      if (pending.empty() && !last_event) {
        if (pos >= server.size()) break;
        std::size_t n = std::min(block, server.size() - pos);
        pending = server.substr(pos, n);
        pos += n;
      }
      Session::Event ev;
      std::size_t used = session_.receive(pending, ev);
      FUZZ_CHECK(used <= pending.size(), "receive() used more than it was given");
      FUZZ_CHECK(used > 0 || ev.kind != Kind::none || pending.empty(),
                 "receive() made no progress");
      pending.remove_prefix(used);
      last_event = ev.kind != Kind::none;
      if (ev.kind == Kind::start_tls) pending = {};  // the driver drops plaintext, handshakes
      handle(ev);
    }
    if (!session_.finished()) {
      FUZZ_CHECK(static_cast<bool>(session_.eof()), "EOF before QUIT is not a failure");
    }
  }

 private:
  static TlsMode tls_mode(unsigned v) {
    return v == 1 ? TlsMode::starttls : v == 2 ? TlsMode::none : TlsMode::implicit;
  }

  static popbox::client::SessionOptions options(std::uint8_t opts) {
    static const AuthMech mechs[8] = {AuthMech::automatic,   AuthMech::user,     AuthMech::plain,
                                      AuthMech::login,       AuthMech::apop,     AuthMech::xoauth2,
                                      AuthMech::oauthbearer, AuthMech::automatic};
    popbox::client::SessionOptions o;
    o.tls = tls_mode(opts & 3);
    o.auth = mechs[(opts >> 2) & 7];
    o.user = std::string(kUser);
    o.secret = std::string(kSecret);
    o.host = "pop.test";
    o.port = 995;
    if (opts & 0x20) o.pipeline_window = 2;
    if (opts & 0x40) o.max_listing = 3;  // the entry bound, reachable
    return o;
  }

  void flush() {
    std::string_view out = session_.output();
    if (out.empty()) return;
    FUZZ_CHECK(out.ends_with("\r\n"), "command not ending in CRLF: " + escaped(out));
    std::size_t pos = 0;
    while (pos < out.size()) {
      std::size_t crlf = out.find("\r\n", pos);
      std::string_view line = out.substr(pos, crlf - pos);
      for (char c : line) {
        FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0',
                   "CR, LF or NUL in a command: " + escaped(out));
      }
      pos = crlf + 2;
    }
    if (!secure_ && tls_ != TlsMode::none) {
      for (const auto& s : secrets_) {
        FUZZ_CHECK(out.find(s) == std::string_view::npos,
                   "secret sent without TLS: " + escaped(out));
      }
    }
    session_.output_done();
  }

  void handle(const Session::Event& ev) {
    FUZZ_CHECK(!closed_, "event after the session ended");
    switch (ev.kind) {
      case Kind::none:
        return;
      case Kind::start_tls:
        FUZZ_CHECK(tls_ == TlsMode::starttls && !secure_, "STLS when not asked for");
        secure_ = true;
        session_.tls_started();
        return;
      case Kind::listing: {
        FUZZ_CHECK(!listed_, "listing twice");
        listed_ = true;
        std::set<std::size_t> numbers;
        for (const auto& e : session_.listing()) {
          FUZZ_CHECK(e.number > 0 && numbers.insert(e.number).second,
                     "bad or duplicate message number in the listing");
          FUZZ_CHECK(!e.uidl.empty(), "empty UIDL in the listing");
          if (quit_only_) continue;
          session_.retrieve(e.number);
          retrieved_.insert(e.number);
          if (delete_) {
            session_.remove(e.number);
            removed_.insert(e.number);
          }
        }
        session_.quit();
        return;
      }
      case Kind::body_begin:
        FUZZ_CHECK(!in_body_, "body_begin inside a body");
        FUZZ_CHECK(retrieved_.contains(ev.message), "body of a message not asked for");
        in_body_ = true;
        body_message_ = ev.message;
        return;
      case Kind::body_data:
        FUZZ_CHECK(in_body_ && ev.message == body_message_, "body_data outside its body");
        FUZZ_CHECK(!ev.data.empty(), "empty body_data event");
        return;
      case Kind::body_end:
        FUZZ_CHECK(in_body_ && ev.message == body_message_, "body_end outside its body");
        in_body_ = false;
        return;
      case Kind::retr_failed:
        FUZZ_CHECK(!in_body_ && retrieved_.contains(ev.message),
                   "retr_failed for " + std::to_string(ev.message));
        return;
      case Kind::deleted:
      case Kind::dele_failed:
        FUZZ_CHECK(!in_body_ && removed_.contains(ev.message),
                   "DELE result for " + std::to_string(ev.message));
        return;
      case Kind::closed:
        FUZZ_CHECK(session_.finished() && !in_body_, "closed but not finished");
        closed_ = true;
        return;
      case Kind::failed:
        FUZZ_CHECK(session_.finished(), "failed but not finished");
        FUZZ_CHECK(static_cast<bool>(ev.failure), "failure without a code");
        closed_ = true;
        return;
    }
    FUZZ_CHECK(false, "unknown event");
  }

  TlsMode tls_;
  bool delete_, quit_only_;
  Session session_;
  bool secure_;
  std::vector<std::string> secrets_;
  bool listed_ = false, in_body_ = false, closed_ = false;
  std::size_t body_message_ = 0;
  std::set<std::size_t> retrieved_, removed_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::size_t block = data[2] == 0 ? size : data[2];
  Harness h(data[0], data[1]);
  h.run(std::string_view(reinterpret_cast<const char*>(data) + 3, size - 3), block);
  return 0;
}
