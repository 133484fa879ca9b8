#include <gtest/gtest.h>

#include <algorithm>
#include <tuple>

#include "core/base64.hpp"
#include "core/limits.hpp"
#include "pop3/command.hpp"
#include "pop3/session.hpp"

using popbox::pop3::Credentials;
using popbox::pop3::LoginOutcome;
using popbox::pop3::Session;
using popbox::pop3::SessionOptions;
using popbox::pop3::Step;
using popbox::store::MessageInfo;
using Action = Step::Action;

namespace {

struct Harness {
  explicit Harness(SessionOptions opts = {}) : session(std::move(opts)) {}

  Step send(std::string_view line) {
    out.clear();
    return session.on_line(line, out);
  }

  void login() {
    send("USER alice");
    ASSERT_EQ(out, "+OK\r\n");
    Step step = send("PASS secret word");
    ASSERT_EQ(step.action, Action::login);
    EXPECT_EQ(step.credentials.user, "alice");
    EXPECT_EQ(step.credentials.secret, "secret word");
    out.clear();
    session.login_done(LoginOutcome::ok, &messages, out);
    ASSERT_EQ(out, "+OK Logged in, 3 messages (1234 octets).\r\n");
  }

  Session session;
  std::vector<MessageInfo> messages{{"uid-a", 1000}, {"uid-b", 200}, {"uid-c", 34}};
  std::string out;
};

}  // namespace

TEST(Command, ParsesKeywordsCaseInsensitively) {
  auto cmd = popbox::pop3::parse_command("lIsT 1");
  EXPECT_STREQ(cmd.keyword, "LIST");
  ASSERT_EQ(cmd.args.size(), 1u);
  EXPECT_EQ(cmd.args[0], "1");
  EXPECT_STREQ(popbox::pop3::parse_command("TOOLONG").keyword, "");
  EXPECT_STREQ(popbox::pop3::parse_command("L1ST").keyword, "");
  EXPECT_EQ(popbox::pop3::parse_command("PASS  a b ").rest, " a b ");
}

TEST(Command, ParsesNumbersStrictly) {
  using popbox::pop3::parse_number;
  EXPECT_EQ(parse_number("42"), 42u);
  EXPECT_EQ(parse_number("0"), 0u);
  EXPECT_FALSE(parse_number("-1"));
  EXPECT_FALSE(parse_number("+1"));
  EXPECT_FALSE(parse_number("1x"));
  EXPECT_FALSE(parse_number(""));
  EXPECT_FALSE(parse_number("99999999999999999999999"));
}

TEST(Session, GreetingCarriesApopTimestampOnlyWhenEnabled) {
  SessionOptions opts;
  opts.hostname = "mail.example.com";
  std::string out;
  Session(opts).greeting(out);
  EXPECT_EQ(out, "+OK mail.example.com POP3 server ready\r\n");
  opts.apop_enabled = true;
  opts.apop_timestamp = "<1.2@mail.example.com>";
  out.clear();
  Session(opts).greeting(out);
  EXPECT_EQ(out, "+OK mail.example.com POP3 server ready <1.2@mail.example.com>\r\n");
}

TEST(Session, TransactionCommandsRefusedBeforeLogin) {
  Harness h;
  for (const char* cmd : {"STAT", "LIST", "RETR 1", "DELE 1", "NOOP", "RSET", "UIDL", "TOP 1 0"}) {
    EXPECT_EQ(h.send(cmd).action, Action::none);
    EXPECT_EQ(h.out.substr(0, 4), "-ERR") << cmd;
  }
}

TEST(Session, QuitInAuthorizationClosesWithoutCommit) {
  Harness h;
  EXPECT_EQ(h.send("quit").action, Action::close);
  EXPECT_EQ(h.out, "+OK Logging out.\r\n");
}

TEST(Session, StatListUidlSkipDeletedMessages) {
  Harness h;
  h.login();
  h.send("STAT");
  EXPECT_EQ(h.out, "+OK 3 1234\r\n");
  h.send("DELE 2");
  EXPECT_EQ(h.out, "+OK Marked to be deleted.\r\n");
  h.send("STAT");
  EXPECT_EQ(h.out, "+OK 2 1034\r\n");
  h.send("LIST");
  EXPECT_EQ(h.out, "+OK 2 messages (1034 octets)\r\n1 1000\r\n3 34\r\n.\r\n");
  h.send("UIDL");
  EXPECT_EQ(h.out, "+OK Unique-ID listing follows\r\n1 uid-a\r\n3 uid-c\r\n.\r\n");
  h.send("LIST 3");
  EXPECT_EQ(h.out, "+OK 3 34\r\n");
  h.send("UIDL 1");
  EXPECT_EQ(h.out, "+OK 1 uid-a\r\n");
  for (const char* cmd : {"LIST 2", "UIDL 2", "RETR 2", "TOP 2 0", "DELE 2"}) {
    h.send(cmd);
    EXPECT_EQ(h.out, "-ERR Message is deleted.\r\n") << cmd;
  }
  h.send("LIST 4");
  EXPECT_EQ(h.out, "-ERR There's no message 4.\r\n");
  h.send("LIST 0");
  EXPECT_EQ(h.out, "-ERR There's no message 0.\r\n");
  h.send("RSET");
  EXPECT_EQ(h.out, "+OK 3 messages\r\n");
  h.send("STAT");
  EXPECT_EQ(h.out, "+OK 3 1234\r\n");
}

TEST(Session, RetrAndTopAskForAStream) {
  Harness h;
  h.login();
  Step step = h.send("RETR 1");
  ASSERT_EQ(step.action, Action::stream);
  EXPECT_EQ(step.message, 0u);
  EXPECT_FALSE(step.top_lines);
  EXPECT_EQ(h.out, "");
  h.session.stream_opened(h.out);
  EXPECT_EQ(h.out, "+OK 1000 octets\r\n");
  step = h.send("TOP 3 0");
  ASSERT_EQ(step.action, Action::stream);
  EXPECT_EQ(step.message, 2u);
  EXPECT_EQ(step.top_lines, 0u);
  h.session.stream_opened(h.out);
  EXPECT_EQ(h.out, "+OK\r\n");
  h.send("TOP 1 -1");
  EXPECT_EQ(h.out, "-ERR Invalid line count.\r\n");
  h.send("TOP 1");
  EXPECT_EQ(h.out.substr(0, 4), "-ERR");
  // A message that cannot be read is not marked as retrieved.
  h.send("RETR 2");
  h.out.clear();
  h.session.stream_failed(h.out);
  EXPECT_EQ(h.out, "-ERR [SYS/TEMP] The message could not be read.\r\n");
  EXPECT_EQ(h.session.commit_retrieved(), (std::vector<std::size_t>{0}));
}

TEST(Session, QuitCommitsDeletionsOnlyFromTransaction) {
  Harness h;
  h.login();
  h.send("DELE 1");
  h.send("DELE 3");
  EXPECT_EQ(h.send("QUIT").action, Action::commit);
  EXPECT_EQ(h.session.state(), Session::State::update);
  EXPECT_EQ(h.session.commit_deleted(), (std::vector<std::size_t>{0, 2}));
  h.out.clear();
  EXPECT_EQ(h.session.commit_done(true, h.out).action, Action::close);
  EXPECT_EQ(h.out, "+OK Logging out.\r\n");
}

TEST(Session, FailedCommitIsReported) {
  Harness h;
  h.login();
  h.send("QUIT");
  h.out.clear();
  h.session.commit_done(false, h.out);
  EXPECT_EQ(h.out, "-ERR [SYS/TEMP] Some deleted messages could not be removed.\r\n");
}

TEST(Session, ExpireZeroDeletesRetrievedMessages) {
  SessionOptions opts;
  opts.expire_days = 0;
  Harness h(opts);
  h.login();
  h.send("RETR 2");
  h.session.stream_opened(h.out);
  h.send("QUIT");
  EXPECT_EQ(h.session.commit_deleted(), (std::vector<std::size_t>{1}));
}

TEST(Session, TooManyBadCommandsClose) {
  Harness h;
  Step step;
  for (int i = 0; i < 9; ++i) {
    step = h.send("BOGUS");
    EXPECT_EQ(step.action, Action::none);
    EXPECT_EQ(h.out, "-ERR Unknown command.\r\n");
  }
  EXPECT_EQ(h.send("BOGUS").action, Action::close);
}

TEST(Session, PlaintextRefusedWhenNotAllowed) {
  SessionOptions opts;
  opts.plaintext_allowed = false;
  opts.stls_available = true;
  Harness h(opts);
  const std::string refused =
      "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n";
  h.send("USER alice");
  EXPECT_EQ(h.out, refused);
  h.send("AUTH PLAIN AGFsaWNlAHNlY3JldA==");
  EXPECT_EQ(h.out, refused);
  h.send("CAPA");
  EXPECT_EQ(h.out.find("USER"), std::string::npos);
  // SCRAM never sends the password, so it is offered on any link.
  EXPECT_NE(h.out.find("\r\nSASL SCRAM-SHA-256\r\n"), std::string::npos);
  EXPECT_NE(h.out.find("STLS\r\n"), std::string::npos);
  EXPECT_EQ(h.send("STLS").action, Action::start_tls);
  h.session.tls_started(true);
  h.send("CAPA");
  EXPECT_EQ(h.out.find("STLS"), std::string::npos);
  EXPECT_NE(h.out.find("USER\r\n"), std::string::npos);
  EXPECT_NE(h.out.find("SASL PLAIN LOGIN SCRAM-SHA-256\r\n"), std::string::npos);
  h.send("STLS");
  EXPECT_EQ(h.out, "-ERR TLS is already active.\r\n");
}

TEST(Session, CapaListsRequiredCapabilities) {
  SessionOptions opts;
  opts.expire_days = 30;
  opts.login_delay_seconds = 900;
  Harness h(opts);
  h.send("CAPA");
  EXPECT_EQ(
      h.out,
      "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n"
      "PIPELINING\r\nUSER\r\nSASL PLAIN LOGIN SCRAM-SHA-256\r\nEXPIRE 30\r\nLOGIN-DELAY 900\r\n"
      "IMPLEMENTATION popbox\r\n.\r\n");
  h.login();
  h.send("CAPA");
  EXPECT_EQ(h.out.find("USER"), std::string::npos);
}

TEST(Session, SaslPlainWithAndWithoutInitialResponse) {
  using popbox::core::base64_encode;
  Harness h;
  std::string resp = base64_encode(std::string("\0alice\0pw d", 11));
  Step step = h.send("AUTH PLAIN " + resp);
  ASSERT_EQ(step.action, Action::login);
  EXPECT_EQ(step.credentials.user, "alice");
  EXPECT_EQ(step.credentials.secret, "pw d");
  h.session.login_done(LoginOutcome::bad_credentials, nullptr, h.out);

  h.send("auth plain");
  EXPECT_EQ(h.out, "+ \r\n");
  step = h.send(resp);
  EXPECT_EQ(step.action, Action::login);
  h.session.login_done(LoginOutcome::bad_credentials, nullptr, h.out);

  h.send("AUTH PLAIN");
  h.send("*");
  EXPECT_EQ(h.out, "-ERR Authentication cancelled.\r\n");
  h.send("AUTH PLAIN");
  h.send("!!notbase64");
  EXPECT_EQ(h.out, "-ERR Invalid base64 data.\r\n");
  Harness fresh;  // the two failures above count towards the limit of three
  fresh.send("AUTH PLAIN " + base64_encode(std::string("bob\0alice\0pw", 12)));
  EXPECT_EQ(fresh.out, "-ERR [AUTH] Authorization identity not permitted.\r\n");
}

TEST(Session, SaslLogin) {
  using popbox::core::base64_encode;
  Harness h;
  h.send("AUTH LOGIN");
  EXPECT_EQ(h.out, "+ VXNlcm5hbWU6\r\n");
  h.send(base64_encode("alice"));
  EXPECT_EQ(h.out, "+ UGFzc3dvcmQ6\r\n");
  Step step = h.send(base64_encode("secret"));
  ASSERT_EQ(step.action, Action::login);
  EXPECT_EQ(step.credentials.user, "alice");
  EXPECT_EQ(step.credentials.secret, "secret");
  h.session.login_done(LoginOutcome::bad_credentials, nullptr, h.out);
  h.send("AUTH LOGIN " + base64_encode("alice"));
  EXPECT_EQ(h.out, "+ UGFzc3dvcmQ6\r\n");
}

TEST(Session, LoginFailuresUseResponseCodes) {
  Harness h;
  h.send("USER alice");
  h.send("PASS x");
  h.out.clear();
  h.session.login_done(LoginOutcome::in_use, nullptr, h.out);
  EXPECT_EQ(h.out, "-ERR [IN-USE] The maildrop is locked by another POP3 session.\r\n");
  h.send("USER alice");
  h.send("PASS x");
  h.out.clear();
  h.session.login_done(LoginOutcome::temp_failure, nullptr, h.out);
  EXPECT_EQ(h.out, "-ERR [SYS/TEMP] Temporary server failure, try again later.\r\n");
  h.send("PASS x");
  EXPECT_EQ(h.out, "-ERR No user name given (USER first).\r\n");
  h.send("USER alice");
  h.send("PASS x");
  h.out.clear();
  h.session.login_done(LoginOutcome::perm_failure, nullptr, h.out);
  EXPECT_EQ(h.out, "-ERR [SYS/PERM] The maildrop cannot be opened; contact the administrator.\r\n");
  for (int i = 0; i < 2; ++i) {
    h.send("USER alice");
    h.send("PASS x");
    h.out.clear();
    EXPECT_EQ(h.session.login_done(LoginOutcome::bad_credentials, nullptr, h.out).action,
              Action::none);
    EXPECT_EQ(h.out, "-ERR [AUTH] Authentication failed.\r\n");
  }
  h.send("USER alice");
  h.send("PASS x");
  EXPECT_EQ(h.session.login_done(LoginOutcome::bad_credentials, nullptr, h.out).action,
            Action::close);
}

TEST(Session, ApopOnlyWhenEnabled) {
  Harness off;
  off.send("APOP alice c4c9334bac560ecc979e58001b3e22fb");
  EXPECT_EQ(off.out, "-ERR Unknown command.\r\n");
  SessionOptions opts;
  opts.apop_enabled = true;
  opts.plaintext_allowed = false;  // APOP sends no password
  Harness on(opts);
  Step step = on.send("APOP alice c4c9334bac560ecc979e58001b3e22fb");
  ASSERT_EQ(step.action, Action::login);
  EXPECT_EQ(step.credentials.kind, Credentials::Kind::apop);
  EXPECT_EQ(step.credentials.secret, "c4c9334bac560ecc979e58001b3e22fb");
}

TEST(Session, BadMessageNumbersCountTowardsTheLimitAndClose) {
  Harness h;
  h.login();
  Step step;
  for (int i = 0; i < 9; ++i) EXPECT_EQ(h.send("LIST x").action, Action::none);
  EXPECT_EQ(h.send("RETR 1x").action, Action::close);
}

TEST(Session, InvalidSaslUserNamesCountAsFailedLogins) {
  using popbox::core::base64_encode;
  Harness h;
  std::string bad = "AUTH PLAIN " + base64_encode(std::string("\0bad user\0pw", 12));
  EXPECT_EQ(h.send(bad).action, Action::none);
  EXPECT_EQ(h.send(bad).action, Action::none);
  EXPECT_EQ(h.send(bad).action, Action::close);
}

namespace {

// Drives the reply of Action::stream as the connection does: feeds `blocks`
// when the session asks, "writes" (moves to the returned wire bytes) when it
// asks, and checks the output bound at every step.
struct Streamed {
  std::string wire;
  std::size_t blocks_asked = 0;
  std::size_t writes = 0;
  std::size_t largest_out = 0;
};

Streamed stream_reply(Harness& h, std::vector<std::string_view> blocks) {
  using popbox::pop3::StreamStep;
  // An empty block is the end of the message, as a read of 0 bytes is.
  std::erase_if(blocks, [](std::string_view b) { return b.empty(); });
  Streamed s;
  std::size_t next = 0;
  h.session.stream_feed(next < blocks.size() ? blocks[next++] : std::string_view());
  for (int steps = 0; steps < 1'000'000; ++steps) {
    StreamStep step = h.session.stream_next(h.out);
    s.largest_out = std::max(s.largest_out, h.out.size());
    EXPECT_LE(h.out.size(), popbox::limits::max_pending_output);
    if (step == StreamStep::done) break;
    if (step == StreamStep::write) {
      ++s.writes;
      s.wire += h.out;
      h.out.clear();
    } else {
      ++s.blocks_asked;
      h.session.stream_feed(next < blocks.size() ? blocks[next++] : std::string_view());
    }
  }
  s.wire += h.out;
  h.out.clear();
  return s;
}

}  // namespace

TEST(Session, RetrAndTopFramingIsByteExactAtEveryBlockCut) {
  // The session owns the framing of RETR/TOP (status line, CRLF, dot-stuffing,
  // terminator); the driver only hands it the stored bytes in disk blocks.
  const std::string stored = "Subject: dots\n\n.\n..\n.hidden\r\nx\ry\nlast\r";
  const std::string retr = "Subject: dots\r\n\r\n..\r\n...\r\n..hidden\r\nx\ry\r\nlast\r\r\n.\r\n";
  const std::string top1 = "Subject: dots\r\n\r\n..\r\n.\r\n";
  for (std::size_t cut = 0; cut <= stored.size(); ++cut) {
    for (auto [command, status, want] :
         {std::tuple{"RETR 1", "+OK 1000 octets\r\n", retr}, {"TOP 1 1", "+OK\r\n", top1}}) {
      Harness h;
      h.login();
      ASSERT_EQ(h.send(command).action, Action::stream);
      h.session.stream_opened(h.out);
      EXPECT_EQ(h.out, status);
      h.out.clear();
      std::string_view all(stored);
      Streamed s = stream_reply(h, {all.substr(0, cut), all.substr(cut)});
      EXPECT_EQ(s.wire, want) << command << " cut " << cut;
    }
  }
}

TEST(Session, StreamedReplyKeepsTheOutputBoundAndWritesLargePieces) {
  // Worst cases for the bound: every stored byte doubles on the wire.
  namespace limits = popbox::limits;
  for (std::string unit : {std::string("\n"), std::string(".\n"), std::string("x\n")}) {
    std::string stored;
    while (stored.size() < 3 * limits::max_pending_output) stored += unit;
    std::string want;
    for (char c : stored)
      want += c == '\n' ? std::string("\r\n") : std::string(c == '.' ? ".." : "x");
    want += ".\r\n";
    Harness h;
    h.login();
    ASSERT_EQ(h.send("RETR 2").action, Action::stream);
    h.session.stream_opened(h.out);
    h.out.clear();
    Streamed s = stream_reply(h, {stored});  // one block bigger than the bound
    EXPECT_EQ(s.wire, want) << unit;
    EXPECT_LE(s.largest_out, limits::max_pending_output);
    EXPECT_GE(s.writes, want.size() / limits::max_pending_output);
    // Every write but the last carries at least the bound less the room kept.
    EXPECT_LE(s.writes, want.size() / (limits::max_pending_output - limits::stream_min_room) + 1);
  }
}

TEST(Session, StreamedReplyWaitsForRoomLeftByPipelinedReplies) {
  namespace limits = popbox::limits;
  Harness h;
  h.login();
  ASSERT_EQ(h.send("RETR 1").action, Action::stream);
  h.out.assign(limits::max_pending_output - 10, 'p');  // earlier replies not yet written
  h.session.stream_opened(h.out);
  h.session.stream_feed("a\n");
  EXPECT_EQ(h.session.stream_next(h.out), popbox::pop3::StreamStep::write);
  h.out.clear();
  EXPECT_EQ(h.session.stream_next(h.out), popbox::pop3::StreamStep::need_block);
  EXPECT_EQ(h.out, "a\r\n");
  h.session.stream_feed({});
  EXPECT_EQ(h.session.stream_next(h.out), popbox::pop3::StreamStep::done);
  EXPECT_EQ(h.out, "a\r\n.\r\n");
  EXPECT_EQ(h.session.stream_next(h.out), popbox::pop3::StreamStep::done);  // stays done
  EXPECT_EQ(h.out, "a\r\n.\r\n");
}

TEST(Session, TopStopsAskingForBlocksOnceItHasItsLines) {
  std::string stored = "A: 1\n\nl1\nl2\n";
  std::string rest(1 << 20, 'z');
  Harness h;
  h.login();
  ASSERT_EQ(h.send("TOP 1 1").action, Action::stream);
  h.session.stream_opened(h.out);
  h.out.clear();
  Streamed s = stream_reply(h, {stored, rest, rest, rest});
  EXPECT_EQ(s.wire, "A: 1\r\n\r\nl1\r\n.\r\n");
  EXPECT_EQ(s.blocks_asked, 0u);  // the first block held the line: no more reads
}

// The disconnect log line's result= comes from here: each way the server
// ends a session has its own reason, and QUIT is only QUIT.
TEST(Session, CloseReasonSaysWhyTheSessionEnded) {
  using popbox::pop3::close_reason_name;
  using popbox::pop3::CloseReason;
  namespace limits = popbox::limits;
  {
    Harness h;
    EXPECT_EQ(h.session.close_reason(), CloseReason::none);
    EXPECT_EQ(h.send("QUIT").action, Action::close);
    EXPECT_EQ(h.session.close_reason(), CloseReason::quit);
  }
  {
    Harness h;
    h.login();
    h.send("DELE 1");
    EXPECT_EQ(h.send("QUIT").action, Action::commit);
    EXPECT_EQ(h.session.close_reason(), CloseReason::none);  // not closed until committed
    h.session.commit_done(false, h.out);
    EXPECT_EQ(h.session.close_reason(), CloseReason::quit);
  }
  {
    Harness h;
    for (int i = 1; i < limits::max_bad_commands; ++i) h.send("BOGUS");
    EXPECT_EQ(h.session.close_reason(), CloseReason::none);
    EXPECT_EQ(h.send("BOGUS").action, Action::close);
    EXPECT_EQ(h.session.close_reason(), CloseReason::too_many_errors);
  }
  {
    Harness h;  // a bad argument inside a handler counts the same
    h.login();
    for (int i = 1; i < limits::max_bad_commands; ++i) h.send("LIST x");
    EXPECT_EQ(h.send("RETR 1x").action, Action::close);
    EXPECT_EQ(h.session.close_reason(), CloseReason::too_many_errors);
  }
  {
    Harness h;
    EXPECT_EQ(h.session.on_line_too_long(h.out).action, Action::close);
    EXPECT_EQ(h.session.close_reason(), CloseReason::line_too_long);
  }
  {
    Harness h;
    for (int i = 0; i < limits::max_auth_failures; ++i) {
      EXPECT_EQ(h.session.close_reason(), CloseReason::none);
      h.send("USER alice");
      h.send("PASS x");
      h.out.clear();
      h.session.login_done(LoginOutcome::bad_credentials, nullptr, h.out);
    }
    EXPECT_EQ(h.out, "-ERR [AUTH] Authentication failed, too many attempts.\r\n");
    EXPECT_EQ(h.session.close_reason(), CloseReason::auth_failures);
    // Lines after the close change nothing.
    EXPECT_EQ(h.send("QUIT").action, Action::close);
    EXPECT_EQ(h.session.close_reason(), CloseReason::auth_failures);
  }
  EXPECT_EQ(close_reason_name(CloseReason::none), "none");
  EXPECT_EQ(close_reason_name(CloseReason::quit), "quit");
  EXPECT_EQ(close_reason_name(CloseReason::too_many_errors), "too_many_errors");
  EXPECT_EQ(close_reason_name(CloseReason::line_too_long), "line_too_long");
  EXPECT_EQ(close_reason_name(CloseReason::auth_failures), "auth_failures");
}
