// libFuzzer target for the POP3 server session (pop3/session.hpp) driven the
// way net/pop3_connection.cpp drives it: client bytes go through
// core::LineReader (limits::max_line), each line into Session::on_line, and
// every Step is carried out by a fake driver with a fixed maildrop.
//
// Input layout: 3 header bytes, then the bytes the client sends.
//   byte 0 (options): bit 0 APOP enabled, bit 1 STLS available, bit 2 link
//     already TLS, bit 3 plaintext allowed, bits 4-5 which maildrop (0-3),
//     bit 6 odd-numbered messages fail to open, bit 7 commit fails
//   byte 1 (more): bits 0-1 EXPIRE (none, NEVER, 0, 30), bit 2 LOGIN-DELAY,
//     bit 3 plaintext allowed once STLS is done, bit 4 OAUTHBEARER/XOAUTH2 on,
//     bit 5 the big maildrop instead (7500 messages: LIST and UIDL come in
//     pieces of limits::listing_piece)
//   byte 2: size of the blocks the client bytes arrive in (0 = all at once)
// The login outcome comes from the last byte of the offered secret (password
// or APOP digest): '0'-'3' (and any byte % 8 < 4) log in, '4' bad
// credentials, '5' in use, '6' login delay, '7' temporary failure. (A bearer
// token's last byte works the same way; bad credentials there give the
// RFC 7628 "+ " error challenge, which the next line answers.)
//
// Invariants checked after every call:
//  * replies are whole lines ending in CRLF, at most 512 octets, with no CR,
//    LF or NUL inside; status lines start "+OK", "-ERR" or (SASL) "+ ";
//    exactly one reply per command; multi-line replies (CAPA, LIST, UIDL,
//    AUTH, RETR, TOP) end in ".\r\n" with no bare "." line before it;
//  * nothing of the TRANSACTION state (stream, commit, message data) happens
//    before login_done(ok), and no login is asked for after it;
//  * no password login is asked for while plaintext is refused, no APOP
//    login unless APOP is on, no STLS when it is not offered or already done;
//  * the session says close exactly when it has gone to the closed state;
//  * RETR's "+OK N octets" is what CrlfSizer says and what is sent; STAT,
//    commit_deleted() and commit_retrieved() agree with the DELE/RSET/RETR
//    the client did.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/scram.hpp"
#include "core/dot_codec.hpp"
#include "core/limits.hpp"
#include "core/line_reader.hpp"
#include "fuzz_common.hpp"
#include "pop3/session.hpp"
#include "store/mailbox.hpp"

namespace {

using popbox::fuzz::escaped;
using popbox::pop3::Credentials;
using popbox::pop3::LoginOutcome;
using popbox::pop3::Session;
using popbox::pop3::SessionOptions;
using popbox::pop3::Step;
using Action = Step::Action;
using State = Session::State;

// ---- the fake maildrops ----------------------------------------------------

struct Maildrop {
  std::vector<std::string> stored;                // message bytes as on disk
  std::vector<popbox::store::MessageInfo> infos;  // what the session sees
};

Maildrop make_maildrop(std::vector<std::string> msgs, std::size_t uidl_pad = 0) {
  Maildrop m;
  m.stored = std::move(msgs);
  for (std::size_t i = 0; i < m.stored.size(); ++i) {
    popbox::core::CrlfSizer sizer;
    sizer.add(m.stored[i]);
    m.infos.push_back({"uid-" + std::string(uidl_pad, 'u') + std::to_string(i + 1), sizer.total()});
  }
  return m;
}

/// Just enough messages that LIST passes limits::listing_piece (so a few
/// DELEs move where, or whether, it is cut) and UIDL passes it twice.
Maildrop make_big_maildrop() {
  constexpr std::size_t count = 7500;
  std::vector<std::string> msgs;
  msgs.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    msgs.push_back("Subject: m" + std::to_string(i) + "\n\n" + std::string(i % 97, 'x') +
                   (i % 5 == 0 ? "\n.\n" : "\n"));
  }
  Maildrop m = make_maildrop(std::move(msgs), 8);
  std::size_t list_bytes = 0;
  for (std::size_t i = 0; i < count; ++i) {
    list_bytes += std::to_string(i + 1).size() + std::to_string(m.infos[i].size).size() + 3;
  }
  FUZZ_CHECK(list_bytes > popbox::limits::listing_piece, "the big LIST fits one piece");
  return m;
}

const std::vector<Maildrop>& maildrops() {
  static const std::vector<Maildrop> drops = [] {
    std::vector<Maildrop> d;
    d.push_back(make_maildrop({}));
    d.push_back(make_maildrop({"From: a@example.com\r\nSubject: hi\r\n\r\nHello\r\n"}));
    d.push_back(make_maildrop({
        "Subject: dots\n\n.\n..\n.hidden\n.\n",
        "Subject: no newline\n\nlast line without newline",
        "",
    }));
    std::string long_body = "Subject: long\r\nX-Dot: .\r\n\r\n";
    for (int i = 0; i < 30; ++i)
      long_body += (i % 3 == 0 ? "." : "line ") + std::to_string(i) + "\n";
    d.push_back(make_maildrop({
        "Subject: a\n\nbody\n",
        long_body,
        "no header end\r\n.\r\nstill header",
        std::string("Subject: 8bit\n\n\x80\xff\r\r\n\0 binary\n",
                    sizeof "Subject: 8bit\n\n\x80\xff\r\r\n\0 binary\n" - 1),
        "\r\n\r\n.\r\n",
    }));
    d.push_back(make_big_maildrop());
    return d;
  }();
  return drops;
}

// ---- reply checks ----------------------------------------------------------

struct Kw {
  std::string keyword;  // upper-cased first word
  std::size_t args = 0;
};

// Splits a command line the way RFC 1939 describes it (independently of
// pop3/command.cpp, to have something to compare with).
Kw classify(std::string_view line) {
  Kw k;
  std::size_t sp = line.find(' ');
  for (char c : line.substr(0, sp)) {
    k.keyword.push_back(c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
  }
  if (sp == std::string_view::npos) return k;
  std::string_view rest = line.substr(sp + 1);
  bool in_word = false;
  for (char c : rest) {
    bool sep = c == ' ' || c == '\t';
    if (!sep && !in_word) ++k.args;
    in_word = !sep;
  }
  return k;
}

/// Checks one reply line (without CRLF) for what any reply line must be.
void check_line_chars(std::string_view line, std::string_view all) {
  FUZZ_CHECK(line.size() + 2 <= 512, "reply line over 512 octets: " + escaped(all));
  for (char c : line) {
    FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0',
               "CR, LF or NUL inside a reply: " + escaped(all));
  }
}

/// Splits `out` into CRLF-terminated lines; every byte must belong to one.
std::vector<std::string_view> reply_lines(std::string_view out) {
  std::vector<std::string_view> lines;
  std::size_t pos = 0;
  while (pos < out.size()) {
    std::size_t crlf = out.find("\r\n", pos);
    FUZZ_CHECK(crlf != std::string_view::npos, "reply not ending in CRLF: " + escaped(out));
    lines.push_back(out.substr(pos, crlf - pos));
    pos = crlf + 2;
  }
  return lines;
}

bool is_ok(std::string_view l) {
  return l == "+OK" || l.starts_with("+OK ");
}
bool is_err(std::string_view l) {
  return l == "-ERR" || l.starts_with("-ERR ");
}
bool is_cont(std::string_view l) {
  return l.starts_with("+ ");
}

/// Checks a message body as sent after RETR/TOP's +OK: stuffed, terminated once.
void check_body(std::string_view body) {
  FUZZ_CHECK(body.ends_with(".\r\n"), "message not terminated: " + escaped(body));
  if (body.size() > 3) {
    FUZZ_CHECK(!body.starts_with(".\r\n") && body.find("\r\n.\r\n") == body.size() - 5,
               "message terminated early: " + escaped(body));
  }
}

/// Checks that `out` is exactly one reply. Returns its first line.
std::string_view check_one_reply(std::string_view out, bool may_be_multiline, bool may_continue) {
  std::vector<std::string_view> lines = reply_lines(out);
  FUZZ_CHECK(!lines.empty(), "empty reply");
  std::string_view first = lines[0];
  check_line_chars(first, out);
  FUZZ_CHECK(is_ok(first) || is_err(first) || (may_continue && is_cont(first)),
             "bad status line: " + escaped(out));
  if (may_be_multiline && is_ok(first)) {
    FUZZ_CHECK(lines.size() >= 2 && lines.back() == ".",
               "multi-line reply not terminated: " + escaped(out));
    for (std::size_t i = 1; i + 1 < lines.size(); ++i) {
      check_line_chars(lines[i], out);
      FUZZ_CHECK(lines[i].empty() || lines[i][0] != '.', "unstuffed '.' line: " + escaped(out));
    }
  } else {
    FUZZ_CHECK(lines.size() == 1, "more than one reply line: " + escaped(out));
  }
  return first;
}

// ---- the fake driver -------------------------------------------------------

LoginOutcome outcome_for(std::string_view secret) {
  static const LoginOutcome table[8] = {LoginOutcome::ok,
                                        LoginOutcome::ok,
                                        LoginOutcome::ok,
                                        LoginOutcome::ok,
                                        LoginOutcome::bad_credentials,
                                        LoginOutcome::in_use,
                                        LoginOutcome::login_delay,
                                        LoginOutcome::temp_failure};
  if (secret.empty()) return LoginOutcome::bad_credentials;
  return table[static_cast<unsigned char>(secret.back()) % 8];
}

class Driver {
 public:
  Driver(std::uint8_t opts, std::uint8_t more)
      : drop_(maildrops()[(more & 0x20) ? 4 : (opts >> 4) & 3]),
        fail_odd_(opts & 0x40),
        commit_fails_(opts & 0x80),
        plaintext_after_tls_(more & 0x08),
        apop_(opts & 0x01),
        stls_(opts & 0x02),
        secure_(opts & 0x04),
        plaintext_(opts & 0x08),
        expire_zero_((more & 3) == 2),
        oauth_(more & 0x10),
        session_(options(opts, more)) {
    deleted_.assign(drop_.infos.size(), false);
    retrieved_.assign(drop_.infos.size(), false);
    std::string out;
    session_.greeting(out);
    std::string_view first = check_one_reply(out, false, false);
    FUZZ_CHECK(is_ok(first), "greeting is not +OK");
    if (apop_) FUZZ_CHECK(first.ends_with(" <1896.697170952@pop.test>"), "APOP timestamp missing");
  }

  bool closed() const { return closed_; }

  /// One line from the LineReader.
  void line(std::string_view line) {
    FUZZ_CHECK(line.find('\n') == std::string_view::npos, "LF inside a line");
    FUZZ_CHECK(line.size() < popbox::limits::max_line, "line over max_line");
    const bool sasl = sasl_pending_;  // this line answers a "+ " challenge
    sasl_pending_ = false;
    const Kw kw = classify(line);
    std::string out;
    Step step = session_.on_line(line, out);
    // A long listing comes in pieces; each is bounded, together one reply.
    if (step.action == Action::more) {
      FUZZ_CHECK(out.size() <= popbox::limits::listing_piece, "first listing piece too big");
    }
    while (step.action == Action::more) {
      const std::size_t before = out.size();
      step = session_.more(out);
      FUZZ_CHECK(out.size() - before <= popbox::limits::listing_piece, "listing piece too big");
    }
    check_state_after(step);
    if (step.action == Action::login || step.action == Action::stream ||
        step.action == Action::commit || step.action == Action::scram) {
      FUZZ_CHECK(out.empty(),
                 "output before " + std::to_string(int(step.action)) + ": " + escaped(out));
    } else {
      bool multi =
          !sasl && (kw.keyword == "CAPA" ||
                    ((kw.keyword == "LIST" || kw.keyword == "UIDL" || kw.keyword == "AUTH") &&
                     kw.args == 0));
      std::string_view first = check_one_reply(out, multi, true);
      if (is_cont(first)) {
        FUZZ_CHECK(kw.keyword == "AUTH" || sasl, "SASL continuation outside AUTH: " + escaped(out));
        FUZZ_CHECK(!logged_in_, "SASL continuation after login");
      }
      sasl_pending_ = is_cont(first);
      if (!sasl) track(kw, line, first);
    }
    act(step, kw);
  }

  void line_too_long() {
    std::string out;
    Step step = session_.on_line_too_long(out);
    check_state_after(step);
    FUZZ_CHECK(step.action == Action::close, "too long line does not close");
    FUZZ_CHECK(is_err(check_one_reply(out, false, false)), "too long line is not -ERR");
    closed_ = true;
  }

  /// Called when the client input is exhausted without QUIT.
  void finish() {
    auto st = session_.stats();
    FUZZ_CHECK(st.bad_commands <= static_cast<std::uint64_t>(popbox::limits::max_bad_commands),
               "bad command limit passed");
  }

  bool wants_discard() {
    bool d = discard_;
    discard_ = false;
    return d;
  }

 private:
  static SessionOptions options(std::uint8_t opts, std::uint8_t more) {
    SessionOptions o;
    o.hostname = "pop.test";
    o.apop_enabled = opts & 0x01;
    o.apop_timestamp = "<1896.697170952@pop.test>";
    o.stls_available = opts & 0x02;
    o.secure = opts & 0x04;
    o.plaintext_allowed = opts & 0x08;
    if (o.secure) o.channel_binding = binding();
    switch (more & 3) {
      case 1:
        o.expire_days = -1;
        break;
      case 2:
        o.expire_days = 0;
        break;
      case 3:
        o.expire_days = 30;
        break;
      default:
        break;
    }
    if (more & 0x04) o.login_delay_seconds = 900;
    o.oauth_enabled = more & 0x10;
    o.oauth_scope = "pop3";
    return o;
  }

  // Whatever a step asks, the state must agree with it and with the login.
  void check_state_after(const Step& step) {
    State s = session_.state();
    FUZZ_CHECK((s == State::closed) == (step.action == Action::close),
               "state closed=" + std::to_string(s == State::closed) + " but action=" +
                   std::to_string(int(step.action)) + " (the driver would keep reading)");
    if (!logged_in_) {
      FUZZ_CHECK(s == State::authorization || s == State::closed,
                 "left AUTHORIZATION without login_done(ok)");
      FUZZ_CHECK(step.action != Action::stream && step.action != Action::commit,
                 "transaction action before login");
    } else {
      FUZZ_CHECK(s != State::authorization, "back in AUTHORIZATION after login");
      FUZZ_CHECK(step.action != Action::login && step.action != Action::start_tls,
                 "login or STLS after login");
    }
    if (step.action == Action::commit) FUZZ_CHECK(s == State::update, "commit outside UPDATE");
  }

  void act(const Step& step, const Kw& kw) {
    switch (step.action) {
      case Action::none:
        return;
      case Action::close:
        closed_ = true;
        return;
      case Action::start_tls: {
        FUZZ_CHECK(stls_ && !secure_, "STLS started when not offered or already TLS");
        FUZZ_CHECK(kw.keyword == "STLS", "start_tls for " + kw.keyword);
        discard_ = true;  // the driver drops buffered plaintext
        secure_ = true;
        stls_ = false;
        plaintext_ = plaintext_after_tls_;
        session_.tls_started(plaintext_after_tls_, binding());
        return;
      }
      case Action::login:
        return login(step.credentials);
      case Action::scram:
        return scram(step.credentials);
      case Action::stream:
        return stream(step, kw);
      case Action::commit:
        return commit();
      case Action::more:
        break;  // drained in line()
    }
    FUZZ_CHECK(false, "unknown action");
  }

  void login(const Credentials& c) {
    FUZZ_CHECK(!c.user.empty() && c.user.size() <= popbox::limits::max_user_name,
               "login with a bad user name length");
    for (unsigned char ch : c.user) {
      FUZZ_CHECK(ch > 0x20 && ch != 0x7f, "login with a control character in the user name");
    }
    if (c.kind == Credentials::Kind::apop) {
      FUZZ_CHECK(apop_, "APOP login while APOP is off");
      FUZZ_CHECK(c.secret.size() == 32, "APOP digest not 32 digits");
    } else if (c.kind == Credentials::Kind::oauth) {
      FUZZ_CHECK(oauth_, "OAuth login while OAuth is off");
      FUZZ_CHECK(plaintext_, "OAuth login while plaintext is refused");
      FUZZ_CHECK(!c.secret.empty(), "OAuth login without a token");
    } else if (c.kind == Credentials::Kind::password) {
      FUZZ_CHECK(plaintext_, "password login while plaintext is refused");
    }
    if (c.kind == Credentials::Kind::scram && c.verified && !c.acknowledged) {
      // A right proof that passed the gates: the server-final, then the
      // client's empty answer asks for the acknowledged login.
      std::string out;
      session_.scram_verified(out);
      FUZZ_CHECK(is_cont(check_one_reply(out, false, true)), "SCRAM server-final " + escaped(out));
      sasl_pending_ = true;
      return;
    }
    FUZZ_CHECK(c.kind != Credentials::Kind::scram || !c.acknowledged || c.verified,
               "acknowledged SCRAM login without a right proof");
    LoginOutcome outcome = outcome_for(c.secret);
    if (c.kind == Credentials::Kind::scram) {
      outcome = c.verified ? LoginOutcome::ok : LoginOutcome::bad_credentials;
    }
    std::string out;
    Step step = session_.login_done(outcome, &drop_.infos, out);
    if (outcome == LoginOutcome::ok) logged_in_ = true;
    check_state_after(step);
    const bool oauth_refused =
        c.kind == Credentials::Kind::oauth && outcome == LoginOutcome::bad_credentials;
    std::string_view first = check_one_reply(out, false, oauth_refused);
    if (oauth_refused) {
      FUZZ_CHECK(
          first ==
              "+ eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NoZW1lcyI6ImJlYXJlciIsInNjb3BlIjoicG9wMyJ9",
          "OAuth refusal is not the RFC 7628 challenge: " + escaped(out));
      sasl_pending_ = true;
    } else if (outcome == LoginOutcome::ok) {
      FUZZ_CHECK(is_ok(first), "login ok but reply " + escaped(out));
      FUZZ_CHECK(session_.state() == State::transaction, "login ok but not in TRANSACTION");
    } else {
      FUZZ_CHECK(is_err(first), "login failed but reply " + escaped(out));
    }
    if (step.action == Action::close) closed_ = true;
  }

  static popbox::auth::ChannelBinding binding() { return {"tls-exporter", std::string(32, 'b')}; }

  /// Action::scram: every user has the RFC 7677 secret ("pencil"); a name
  /// ending in '7' makes the lookup fail.
  void scram(const Credentials& c) {
    FUZZ_CHECK(!logged_in_, "SCRAM lookup after login");
    FUZZ_CHECK(!c.user.empty() && c.user.size() <= popbox::limits::max_user_name,
               "SCRAM lookup with a bad user name length");
    std::optional<popbox::auth::ScramSecret> secret;
    if (c.user.back() != '7') {
      secret = popbox::auth::parse_scram_secret(
          "4096,W22ZaJ0SNY7soEsUEjb6gQ==,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
          "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
      FUZZ_CHECK(secret.has_value(), "RFC 7677 secret does not parse");
    }
    std::string out;
    Step step =
        session_.scram_lookup_done(std::move(secret), "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", out);
    check_state_after(step);
    std::string_view first = check_one_reply(out, false, true);
    FUZZ_CHECK(is_cont(first) == (c.user.back() != '7'), "SCRAM lookup reply " + escaped(out));
    sasl_pending_ = is_cont(first);
  }

  void stream(const Step& step, const Kw& kw) {
    FUZZ_CHECK(kw.keyword == "RETR" || kw.keyword == "TOP", "stream for " + kw.keyword);
    FUZZ_CHECK(step.message < drop_.infos.size(), "stream of a message that does not exist");
    FUZZ_CHECK(!deleted_[step.message], "stream of a deleted message");
    FUZZ_CHECK(step.top_lines.has_value() == (kw.keyword == "TOP"), "top_lines mismatch");
    std::string out;
    if (fail_odd_ && step.message % 2 == 1) {
      session_.stream_failed(out);
      FUZZ_CHECK(is_err(check_one_reply(out, false, false)), "stream_failed is not -ERR");
      return;
    }
    session_.stream_opened(out);
    std::string_view first = check_one_reply(out, false, false);
    FUZZ_CHECK(is_ok(first), "stream_opened is not +OK");
    // The session frames the message, in blocks cut at an arbitrary size
    // (the driver's disk reads), and must equal the one codec run whole.
    const std::string_view stored = drop_.stored[step.message];
    const std::size_t block = 1 + (step.message * 7 + kw.args) % 11;
    // Driven like the connection does: blocks when the session asks for
    // them, a write when it says the output is near its bound (with the
    // status line still pending, as on the wire).
    std::string body;
    std::string pending = out;
    std::size_t pos = std::min(block, stored.size());
    bool ended = pos == 0;  // an empty block is the end of the message
    session_.stream_feed(stored.substr(0, pos));
    for (std::size_t steps = 0;; ++steps) {
      FUZZ_CHECK(steps <= 4 * stored.size() + 8, "stream_next() makes no progress");
      popbox::pop3::StreamStep s = session_.stream_next(pending);
      FUZZ_CHECK(pending.size() <= popbox::limits::max_pending_output, "output over its bound");
      if (s == popbox::pop3::StreamStep::done) break;
      if (s == popbox::pop3::StreamStep::need_block) {
        FUZZ_CHECK(!ended, "a block asked for after the end");
        const std::size_t n = std::min(block, stored.size() - pos);
        session_.stream_feed(stored.substr(pos, n));
        pos += n;
        ended = n == 0;
      }
      body += pending;
      pending.clear();
    }
    body += pending;
    body.erase(0, out.size());
    popbox::core::DotEncoder enc =
        step.top_lines ? popbox::core::DotEncoder(*step.top_lines) : popbox::core::DotEncoder();
    std::string whole;
    enc.encode(stored, whole);
    enc.finish(whole);
    FUZZ_CHECK(body == whole, "message framed in blocks differs: " + escaped(body));
    check_body(body);
    if (!step.top_lines) {
      retrieved_[step.message] = true;
      popbox::core::DotDecoder dec;
      std::string decoded;
      dec.decode(body, decoded);
      FUZZ_CHECK(dec.done(), "RETR body not terminated");
      std::string want = "+OK " + std::to_string(decoded.size()) + " octets";
      FUZZ_CHECK(first == want, "RETR announces " + std::string(first) + ", sends " +
                                    std::to_string(decoded.size()));
    }
  }

  void commit() {
    // What QUIT must apply: the DELE'd messages (and, with EXPIRE 0, the
    // retrieved ones); retrieved ones not deleted are marked seen.
    std::vector<std::size_t> want_deleted, want_retrieved;
    for (std::size_t i = 0; i < deleted_.size(); ++i) {
      if (deleted_[i] || (expire_zero_ && retrieved_[i])) want_deleted.push_back(i);
      if (retrieved_[i] && !deleted_[i]) want_retrieved.push_back(i);
    }
    FUZZ_CHECK(session_.commit_deleted() == want_deleted, "commit_deleted() disagrees");
    FUZZ_CHECK(session_.commit_retrieved() == want_retrieved, "commit_retrieved() disagrees");
    std::string out;
    Step step = session_.commit_done(!commit_fails_, out);
    check_state_after(step);
    std::string_view first = check_one_reply(out, false, false);
    FUZZ_CHECK(commit_fails_ ? is_err(first) : is_ok(first), "commit reply " + escaped(out));
    FUZZ_CHECK(step.action == Action::close, "commit_done does not close");
    closed_ = true;
  }

  // Follows DELE/RSET/STAT replies to know what the maildrop should look like.
  void track(const Kw& kw, std::string_view line, std::string_view first) {
    if (!logged_in_ || !is_ok(first)) return;
    if (kw.keyword == "DELE") {
      std::size_t n = std::stoul(std::string(line.substr(line.find_first_of("0123456789"))));
      FUZZ_CHECK(n >= 1 && n <= deleted_.size() && !deleted_[n - 1], "DELE accepted wrongly");
      deleted_[n - 1] = true;
    } else if (kw.keyword == "RSET") {
      deleted_.assign(deleted_.size(), false);
    } else if (kw.keyword == "STAT") {
      std::uint64_t count = 0, octets = 0;
      for (std::size_t i = 0; i < deleted_.size(); ++i) {
        if (deleted_[i]) continue;
        ++count;
        octets += drop_.infos[i].size;
      }
      FUZZ_CHECK(first == "+OK " + std::to_string(count) + " " + std::to_string(octets),
                 "STAT says " + std::string(first));
    }
  }

  const Maildrop& drop_;
  bool fail_odd_, commit_fails_, plaintext_after_tls_;
  bool apop_, stls_, secure_, plaintext_, expire_zero_, oauth_;  // what the session was told
  Session session_;
  bool logged_in_ = false, closed_ = false, sasl_pending_ = false, discard_ = false;
  std::vector<bool> deleted_, retrieved_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::uint8_t opts = data[0], more = data[1];
  const std::size_t chunk = data[2] == 0 ? size : data[2];
  std::string_view input(reinterpret_cast<const char*>(data) + 3, size - 3);

  Driver driver(opts, more);
  popbox::core::LineReader reader(popbox::limits::max_line);
  std::size_t pos = 0;
  while (pos < input.size() && !driver.closed()) {
    std::size_t n = std::min(chunk, input.size() - pos);
    reader.feed(input.substr(pos, n));
    pos += n;
    // Answer every complete line received so far, in order (pipelining).
    while (!driver.closed()) {
      std::string_view line;
      auto r = reader.next(line);
      if (r == popbox::core::LineReader::Result::need_more) break;
      if (r == popbox::core::LineReader::Result::too_long) {
        driver.line_too_long();
        break;
      }
      driver.line(line);
      if (driver.wants_discard()) {
        reader.discard();  // STLS: plaintext after it is never a command
        FUZZ_CHECK(reader.buffered() == 0, "discard left bytes behind");
        break;
      }
    }
  }
  driver.finish();
  return 0;
}
