// The pure POP3 client session: scripted server replies in, commands and
// events out; every script is also fed split at every byte offset.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "client/session.hpp"
#include "core/base64.hpp"

using popbox::client::AuthMech;
using popbox::client::fetch_errc;
using popbox::client::Session;
using popbox::client::SessionOptions;
using popbox::client::TlsMode;
using Kind = Session::EventKind;

namespace {

using Handler = std::function<void(Session&, const Session::Event&)>;

// Fetches everything listed, then quits.
void fetch_all(Session& s, const Session::Event& ev) {
  if (ev.kind != Kind::listing) return;
  for (const auto& e : s.listing()) s.retrieve(e.number);
  s.quit();
}

// Runs a session against `server` (all replies, in order) cut into chunks at
// `cuts`, and returns one trace line per command sent and per event.
std::string run(const SessionOptions& opts, std::string_view server,
                const std::vector<std::size_t>& cuts, const Handler& handler = fetch_all) {
  Session s(opts);
  std::string trace, body;
  auto pump = [&] {
    std::string_view out = s.output();
    std::string text(out);
    s.output_done();
    for (std::size_t p; (p = text.find("\r\n")) != std::string::npos; text.erase(0, p + 2)) {
      trace += "> " + text.substr(0, p) + "\n";
    }
  };
  pump();
  std::size_t start = 0;
  std::vector<std::size_t> bounds = cuts;
  bounds.push_back(server.size());
  for (std::size_t end : bounds) {
    std::string_view chunk = server.substr(start, end - start);
    start = end;
    Session::Event ev;
    do {
      chunk.remove_prefix(s.receive(chunk, ev));
      switch (ev.kind) {
        case Kind::none:
          break;
        case Kind::body_data:
          body.append(ev.data);
          break;
        case Kind::body_end:
          trace += "body " + std::to_string(ev.message) + " [" + body + "]\n";
          body.clear();
          break;
        case Kind::body_begin:
          break;
        case Kind::listing:
          trace += "listing";
          for (const auto& e : s.listing()) {
            trace += " " + std::to_string(e.number) + ":" + e.uidl + ":" + std::to_string(e.size);
          }
          trace += "\n";
          break;
        case Kind::start_tls:
          trace += "start_tls\n";
          s.tls_started();
          break;
        case Kind::retr_failed:
          trace += "retr_failed " + std::to_string(ev.message) + "\n";
          break;
        case Kind::deleted:
          trace += "deleted " + std::to_string(ev.message) + "\n";
          break;
        case Kind::dele_failed:
          trace += "dele_failed " + std::to_string(ev.message) + "\n";
          break;
        case Kind::closed:
          trace += ev.ok ? "closed ok\n" : "closed err\n";
          break;
        case Kind::failed:
          trace += "failed " + ev.failure.code.message() + ": " + ev.failure.message + "\n";
          break;
      }
      if (handler) handler(s, ev);
      pump();
    } while (!chunk.empty() || ev.kind != Kind::none);
  }
  return trace;
}

// The trace must not depend on how the server's bytes were cut.
std::string run_split_invariant(const SessionOptions& opts, std::string_view server,
                                const Handler& handler = fetch_all) {
  std::string whole = run(opts, server, {}, handler);
  for (std::size_t cut = 0; cut <= server.size(); ++cut) {
    EXPECT_EQ(run(opts, server, {cut}, handler), whole) << "cut at " << cut;
  }
  std::vector<std::size_t> bytewise;
  for (std::size_t i = 1; i < server.size(); ++i) bytewise.push_back(i);
  EXPECT_EQ(run(opts, server, bytewise, handler), whole) << "byte by byte";
  return whole;
}

SessionOptions plain(AuthMech auth = AuthMech::automatic) {
  SessionOptions o;
  o.tls = TlsMode::none;
  o.auth = auth;
  o.user = "alice";
  o.secret = "secret";
  o.host = "pop.example.com";
  o.port = 110;
  return o;
}

SessionOptions tls(AuthMech auth = AuthMech::automatic) {
  SessionOptions o = plain(auth);
  o.tls = TlsMode::implicit;
  o.port = 995;
  return o;
}

const std::string listing2 =
    "+OK\r\n1 uid-one\r\n2 uid-two\r\n.\r\n"
    "+OK 2 messages\r\n1 20\r\n2 30 extra\r\n.\r\n";

}  // namespace

TEST(ClientSession, UserPassWithoutPipeliningOneCommandAtATime) {
  std::string server = "+OK ready\r\n+OK\r\nUSER\r\nUIDL\r\n.\r\n+OK\r\n+OK\r\n" + listing2 +
                       "+OK\r\nSubject: a\r\n\r\nbody\r\n.\r\n"
                       "+OK\r\n..dot\r\n.\r\n"
                       "+OK bye\r\n";
  std::string trace = run_split_invariant(plain(), server);
  EXPECT_EQ(trace,
            "> CAPA\n> USER alice\n> PASS secret\n> UIDL\n> LIST\n"
            "listing 1:uid-one:20 2:uid-two:30\n"
            "> RETR 1\n"
            "body 1 [Subject: a\r\n\r\nbody\r\n]\n"
            "> RETR 2\n"
            "body 2 [.dot\r\n]\n"
            "> QUIT\n"
            "closed ok\n");
}

TEST(ClientSession, PipeliningSendsRetrBatchesWithinTheWindow) {
  SessionOptions o = plain();
  o.pipeline_window = 2;
  std::string server =
      "+OK ready\r\n+OK\r\nUSER\r\nPIPELINING\r\n.\r\n+OK\r\n+OK\r\n" +
      std::string("+OK\r\n1 a\r\n2 b\r\n3 c\r\n.\r\n+OK\r\n1 1\r\n2 2\r\n3 3\r\n.\r\n") +
      "+OK\r\nA\r\n.\r\n+OK\r\nB\r\n.\r\n+OK\r\nC\r\n.\r\n+OK\r\n";
  std::string trace = run_split_invariant(o, server);
  EXPECT_EQ(trace,
            "> CAPA\n> USER alice\n> PASS secret\n> UIDL\n> LIST\n"
            "listing 1:a:1 2:b:2 3:c:3\n"
            "> RETR 1\n> RETR 2\n"
            "body 1 [A\r\n]\n> RETR 3\n"
            "body 2 [B\r\n]\n"
            "body 3 [C\r\n]\n> QUIT\n"
            "closed ok\n");
}

TEST(ClientSession, DeleAfterEachMessageIsPipelinedBehindTheRetrs) {
  SessionOptions o = plain();
  std::string server = "+OK\r\n+OK\r\nUSER\r\nPIPELINING\r\n.\r\n+OK\r\n+OK\r\n" + listing2 +
                       "+OK\r\nA\r\n.\r\n+OK\r\nB\r\n.\r\n+OK\r\n+OK\r\n+OK\r\n";
  Handler h = [](Session& s, const Session::Event& ev) {
    fetch_all(s, ev);
    if (ev.kind == Kind::body_end) s.remove(ev.message);
  };
  EXPECT_EQ(run_split_invariant(o, server, h),
            "> CAPA\n> USER alice\n> PASS secret\n> UIDL\n> LIST\n"
            "listing 1:uid-one:20 2:uid-two:30\n"
            "> RETR 1\n> RETR 2\n"
            "body 1 [A\r\n]\n> DELE 1\n"
            "body 2 [B\r\n]\n> DELE 2\n"
            "deleted 1\ndeleted 2\n> QUIT\nclosed ok\n");
}

TEST(ClientSession, BodiesAreUnstuffedAndKeepEveryByte) {
  std::string body = "..\r\n...x\r\nmid.dot\r\n.\r\n";  // stuffed form of ".", "..x", ...
  std::string server =
      "+OK\r\n-ERR no CAPA\r\n+OK\r\n+OK\r\n+OK\r\n1 u\r\n.\r\n+OK\r\n1 9\r\n.\r\n"
      "+OK 9 octets\r\n" +
      body + "+OK\r\n";
  EXPECT_EQ(run_split_invariant(plain(), server),
            "> CAPA\n> USER alice\n> PASS secret\n> UIDL\n> LIST\nlisting 1:u:9\n> RETR 1\n"
            "body 1 [.\r\n..x\r\nmid.dot\r\n]\n> QUIT\nclosed ok\n");
}

TEST(ClientSession, EmptyMessageAndEmptyMaildrop) {
  std::string server =
      "+OK\r\n+OK\r\nUSER\r\n.\r\n+OK\r\n+OK\r\n+OK\r\n1 u\r\n.\r\n+OK\r\n1 0\r\n.\r\n"
      "+OK\r\n.\r\n+OK\r\n";
  EXPECT_EQ(run_split_invariant(plain(), server),
            "> CAPA\n> USER alice\n> PASS secret\n> UIDL\n> LIST\nlisting 1:u:0\n> RETR 1\n"
            "body 1 []\n> QUIT\nclosed ok\n");
  std::string empty = "+OK\r\n+OK\r\nUSER\r\n.\r\n+OK\r\n+OK\r\n+OK\r\n.\r\n+OK\r\n.\r\n+OK\r\n";
  EXPECT_EQ(run_split_invariant(plain(), empty),
            "> CAPA\n> USER alice\n> PASS secret\n> UIDL\n> LIST\nlisting\n> QUIT\nclosed ok\n");
}

TEST(ClientSession, AutoPicksApopWithoutTls) {
  std::string server =
      "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n"
      "+OK\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n+OK\r\n";
  SessionOptions o = plain();
  o.secret = "tanstaaf";
  std::string trace = run_split_invariant(o, server, nullptr);
  EXPECT_EQ(trace, "> CAPA\n> APOP alice c4c9334bac560ecc979e58001b3e22fb\n> UIDL\n");
}

TEST(ClientSession, AutoPicksSaslPlainOverTlsWithAnInitialResponse) {
  std::string server = "+OK <1.2@x>\r\n+OK\r\nUSER\r\nSASL LOGIN PLAIN\r\n.\r\n+OK\r\n";
  std::string trace = run_split_invariant(tls(), server, nullptr);
  EXPECT_EQ(trace, "> CAPA\n> AUTH PLAIN " +
                       popbox::core::base64_encode(std::string("\0alice\0secret", 13)) +
                       "\n> UIDL\n");
}

TEST(ClientSession, AutoFallsBackToUserThenApop) {
  std::string server = "+OK\r\n+OK\r\nUSER\r\n.\r\n+OK\r\n+OK\r\n";
  EXPECT_EQ(run(tls(), server, {}, nullptr), "> CAPA\n> USER alice\n> PASS secret\n> UIDL\n");
  std::string apop_only = "+OK <1.2@x>\r\n+OK\r\nTOP\r\n.\r\n+OK\r\n";
  EXPECT_EQ(run(tls(), apop_only, {}, nullptr).substr(0, 15), "> CAPA\n> APOP a");
  std::string nothing = "+OK\r\n+OK\r\nTOP\r\n.\r\n";
  EXPECT_EQ(run(tls(), nothing, {}, nullptr),
            "> CAPA\nfailed authentication failed: the server offers no login mechanism popbox "
            "can use\n");
}

TEST(ClientSession, SaslLoginExchange) {
  std::string server =
      "+OK\r\n+OK\r\nSASL LOGIN\r\n.\r\n+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\n+OK\r\n";
  EXPECT_EQ(run_split_invariant(tls(AuthMech::login), server, nullptr),
            "> CAPA\n> AUTH LOGIN\n> YWxpY2U=\n> c2VjcmV0\n> UIDL\n");
}

TEST(ClientSession, XOAuth2TwoStepExchange) {
  SessionOptions o = tls(AuthMech::xoauth2);
  o.secret = "ya29.token";
  std::string token = popbox::core::base64_encode(
      "user=alice\x01"
      "auth=Bearer ya29.token\x01\x01");
  std::string server = "+OK\r\n+OK\r\nSASL XOAUTH2\r\n.\r\n+ \r\n+OK\r\n";
  EXPECT_EQ(run_split_invariant(o, server, nullptr),
            "> CAPA\n> AUTH XOAUTH2\n> " + token + "\n> UIDL\n");
}

TEST(ClientSession, XOAuth2ErrorChallengeIsAnsweredAndReported) {
  SessionOptions o = tls(AuthMech::xoauth2);
  std::string json = R"({"status":"401","schemes":"bearer"})";
  std::string server = "+OK\r\n+OK\r\n.\r\n+\r\n+ " + popbox::core::base64_encode(json) +
                       "\r\n-ERR [AUTH] invalid token\r\n";
  std::string trace = run_split_invariant(o, server, nullptr);
  EXPECT_NE(trace.find("> AUTH XOAUTH2\n> "), std::string::npos);
  EXPECT_NE(trace.find("\n> \nfailed authentication failed: login as alice with xoauth2 failed "
                       "(OAuth error: " +
                       json + ")"),
            std::string::npos)
      << trace;
}

TEST(ClientSession, OAuthBearerMessageAndErrorResponse) {
  SessionOptions o = tls(AuthMech::oauthbearer);
  o.secret = "tok";
  std::string msg = popbox::core::base64_encode(
      "n,a=alice,\x01host=pop.example.com\x01port=995\x01"
      "auth=Bearer tok\x01\x01");
  std::string ok = "+OK\r\n+OK\r\n.\r\n+ \r\n+OK\r\n";
  EXPECT_EQ(run_split_invariant(o, ok, nullptr),
            "> CAPA\n> AUTH OAUTHBEARER\n> " + msg + "\n> UIDL\n");
  std::string bad = "+OK\r\n+OK\r\n.\r\n+ \r\n+ e30=\r\n-ERR no\r\n";
  std::string trace = run(o, bad, {}, nullptr);
  EXPECT_NE(trace.find("> AQ==\nfailed authentication failed"), std::string::npos) << trace;
}

TEST(ClientSession, StlsThenCapabilitiesAgainThenLogin) {
  SessionOptions o = tls();
  o.tls = TlsMode::starttls;
  std::string server =
      "+OK\r\n+OK\r\nSTLS\r\n.\r\n+OK Begin TLS\r\n+OK\r\nUSER\r\nSASL PLAIN\r\n.\r\n+OK\r\n";
  std::string trace = run_split_invariant(o, server, nullptr);
  EXPECT_EQ(trace.substr(0, trace.find("> AUTH PLAIN")), "> CAPA\n> STLS\nstart_tls\n> CAPA\n");
}

TEST(ClientSession, PlaintextAfterTheStlsReplyIsDiscarded) {
  SessionOptions o = tls();
  o.tls = TlsMode::starttls;
  Session s(o);
  std::string_view in = "+OK\r\n+OK\r\n.\r\n+OK go\r\n+OK injected\r\n";
  Session::Event ev;
  bool started = false;
  do {
    in.remove_prefix(s.receive(in, ev));
    if (ev.kind == Kind::start_tls) started = true;
    ASSERT_NE(ev.kind, Kind::failed);
  } while (!in.empty() || ev.kind != Kind::none);
  EXPECT_TRUE(started);
  s.output_done();
  s.tls_started();
  EXPECT_EQ(s.output(), "CAPA\r\n");  // nothing was read from the injected line
}

TEST(ClientSession, RefusedStlsFailsWithoutSendingTheUserName) {
  SessionOptions o = tls();
  o.tls = TlsMode::starttls;
  std::string trace = run(o, "+OK\r\n+OK\r\nUSER\r\n.\r\n-ERR no TLS here\r\n", {}, nullptr);
  EXPECT_EQ(trace,
            "> CAPA\n> STLS\nfailed TLS failure: the server refused STLS (\"-ERR no TLS here\"); "
            "not falling back to plaintext\n");
}

TEST(ClientSession, ErrorRepliesMapToFailureKinds) {
  auto first_failure = [](std::string server) {
    std::string t = run(plain(), server, {}, nullptr);
    auto p = t.find("failed ");
    return p == std::string::npos ? t : t.substr(p, t.find(':', p) - p);
  };
  const std::string p = "+OK\r\n-ERR no CAPA\r\n";  // greeting, RFC 1939 server
  EXPECT_EQ(first_failure("-ERR busy\r\n"), "failed temporary failure");
  EXPECT_EQ(first_failure(p + "+OK\r\n-ERR [IN-USE] locked\r\n"), "failed temporary failure");
  EXPECT_EQ(first_failure(p + "+OK\r\n-ERR [SYS/TEMP] later\r\n"), "failed temporary failure");
  EXPECT_EQ(first_failure(p + "+OK\r\n-ERR [AUTH] wrong\r\n"), "failed authentication failed");
  EXPECT_EQ(first_failure(p + "-ERR no such user\r\n"), "failed authentication failed");
  EXPECT_EQ(first_failure(p + "+OK\r\n+OK\r\n-ERR unknown command\r\n"),
            "failed POP3 protocol error");
  EXPECT_EQ(first_failure(p + "+OK\r\n+OK\r\n+OK\r\n1\r\n.\r\n"), "failed POP3 protocol error");
  EXPECT_EQ(first_failure(p + "+OK\r\n+OK\r\n+OK\r\n1 a\x7f\r\n.\r\n"),
            "failed POP3 protocol error");
  EXPECT_EQ(first_failure(p + "+OK\r\n+OK\r\n+OK\r\n1 a\r\n1 b\r\n.\r\n+OK\r\n.\r\n"),
            "failed POP3 protocol error");
  EXPECT_EQ(first_failure(p + "+OK\r\n+OK\r\n+OK\r\n1 a\r\n.\r\n+OK\r\n1 x\r\n.\r\n"),
            "failed POP3 protocol error");
  EXPECT_EQ(first_failure(p + "+OK\r\n+OK\r\nbogus\r\n"), "failed POP3 protocol error");
  EXPECT_EQ(first_failure("hello\r\n"), "failed temporary failure");
  EXPECT_EQ(first_failure("+OK\r\n" + std::string(9000, 'x')), "failed POP3 protocol error");
}

TEST(ClientSession, RetrAndDeleErrorsAreEventsNotFailures) {
  std::string server = "+OK\r\n+OK\r\nUSER\r\n.\r\n+OK\r\n+OK\r\n" + listing2 +
                       "-ERR gone\r\n+OK\r\nB\r\n.\r\n-ERR no\r\n-ERR [SYS/PERM] cannot\r\n";
  Handler h = [](Session& s, const Session::Event& ev) {
    if (ev.kind == Kind::listing) {
      s.retrieve(1);
      s.retrieve(2);
      s.remove(2);
      s.quit();
    }
  };
  EXPECT_EQ(run_split_invariant(plain(), server, h),
            "> CAPA\n> USER alice\n> PASS secret\n> UIDL\n> LIST\n"
            "listing 1:uid-one:20 2:uid-two:30\n> RETR 1\nretr_failed 1\n> RETR 2\nbody 2 [B\r\n]\n"
            "> DELE 2\ndele_failed 2\n> QUIT\nclosed err\n");
}

TEST(ClientSession, EofMeansTemporaryFailureUnlessQuitWasAnswered) {
  Session s(plain());
  std::string_view in = "+OK\r\n";
  Session::Event ev;
  in.remove_prefix(s.receive(in, ev));
  EXPECT_EQ(s.eof().code, popbox::client::make_error_code(fetch_errc::temporary));
}

TEST(ClientSession, NoPasswordEverGoesOutWithoutTlsUnlessTlsIsNone) {
  // tls = "implicit" sessions start secure; a starttls session that never
  // got TLS cannot reach the login (covered above). Here: tls = "none"
  // sends PASS, which is the explicit choice.
  std::string server = "+OK\r\n+OK\r\nUSER\r\n.\r\n+OK\r\n";
  EXPECT_NE(run(plain(AuthMech::user), server, {}, nullptr).find("> PASS secret"),
            std::string::npos);
}

TEST(ClientSession, OnlyCrlfDotCrlfEndsABodyOrAListing) {
  // Bare-LF dot lines are body bytes, kept as they came.
  std::string body = "a\n.\nb\r\n.\n\n.\r\n..\r\n.\r\n";
  std::string server =
      "+OK\r\n-ERR no CAPA\r\n+OK\r\n+OK\r\n+OK\r\n1 u\r\n.\r\n+OK\r\n1 9\r\n.\r\n"
      "+OK 9 octets\r\n" +
      body + "+OK\r\n";
  EXPECT_EQ(run_split_invariant(plain(), server),
            "> CAPA\n> USER alice\n> PASS secret\n> UIDL\n> LIST\nlisting 1:u:9\n> RETR 1\n"
            "body 1 [a\n.\nb\r\n.\n\n.\r\n.\r\n]\n> QUIT\nclosed ok\n");
  // A CAPA listing goes on past "\n.\n" and "\n.\r\n": the replies after it
  // are read as the replies they are.
  std::string capa =
      "+OK\r\n+OK\r\nUSER\n.\nX-A\n.\r\nX-B\r\n.\r\n+OK\r\n+OK\r\n+OK\r\n.\r\n+OK\r\n.\r\n"
      "+OK\r\n";
  EXPECT_EQ(run_split_invariant(plain(), capa),
            "> CAPA\n> USER alice\n> PASS secret\n> UIDL\n> LIST\nlisting\n> QUIT\nclosed ok\n");
}

TEST(ClientSession, DotSpaceAndDotLinesWithoutCrlfInsideABodyAreData) {
  // ". \r\n", ".x\r\n" (a lone dot is removed: RFC 1939 byte-stuffing),
  // "\r\n.\n", "\n.\r\n" and ".\r" without its LF never end the message.
  std::string body = ". \r\n.x\r\n\r\n.\nz\n.\r\ny\r\n.\rq\r\n. .\r\n.\r\n";
  std::string server =
      "+OK\r\n-ERR no CAPA\r\n+OK\r\n+OK\r\n+OK\r\n1 u\r\n.\r\n+OK\r\n1 9\r\n.\r\n"
      "+OK 9 octets\r\n" +
      body + "+OK\r\n";
  EXPECT_EQ(run_split_invariant(plain(), server),
            "> CAPA\n> USER alice\n> PASS secret\n> UIDL\n> LIST\nlisting 1:u:9\n> RETR 1\n"
            "body 1 [ \r\nx\r\n\r\n.\nz\n.\r\ny\r\n\rq\r\n .\r\n]\n> QUIT\nclosed ok\n");
}

TEST(ClientSession, ListingsAreBoundedInEntries) {
  SessionOptions o = plain();
  o.max_listing = 2;
  std::string head = "+OK\r\n-ERR no CAPA\r\n+OK\r\n+OK\r\n";
  // Two entries are fine; a third in UIDL or in LIST fails the session
  // before anything is fetched.
  EXPECT_EQ(
      run_split_invariant(o, head + "+OK\r\n1 a\r\n2 b\r\n.\r\n+OK\r\n1 1\r\n2 2\r\n.\r\n+OK\r\n"
                                    "A\r\n.\r\n+OK\r\nB\r\n.\r\n+OK\r\n"),
      "> CAPA\n> USER alice\n> PASS secret\n> UIDL\n> LIST\nlisting 1:a:1 2:b:2\n"
      "> RETR 1\nbody 1 [A\r\n]\n> RETR 2\nbody 2 [B\r\n]\n> QUIT\nclosed ok\n");
  EXPECT_EQ(run_split_invariant(o, head + "+OK\r\n1 a\r\n2 b\r\n3 c\r\n"),
            "> CAPA\n> USER alice\n> PASS secret\n> UIDL\nfailed POP3 protocol error: the "
            "server's UIDL reply lists more than 2 messages; nothing was fetched\n");
  EXPECT_EQ(run_split_invariant(o, head + "+OK\r\n1 a\r\n.\r\n+OK\r\n1 1\r\n2 2\r\n3 3\r\n"),
            "> CAPA\n> USER alice\n> PASS secret\n> UIDL\n> LIST\nfailed POP3 protocol error: the "
            "server's LIST reply lists more than 2 messages; nothing was fetched\n");
}

TEST(ClientSession, AnOverlongListingLineFails) {
  std::string head = "+OK\r\n-ERR no CAPA\r\n+OK\r\n+OK\r\n+OK\r\n1 ";
  std::string trace = run(plain(), head + std::string(popbox::client::limits::max_line, 'u'), {});
  EXPECT_NE(trace.find("failed POP3 protocol error: the server sent a line longer than 8192 bytes"),
            std::string::npos)
      << trace;
  EXPECT_EQ(trace.find("listing"), std::string::npos);
}
