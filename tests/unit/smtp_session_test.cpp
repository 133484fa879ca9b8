#include <gtest/gtest.h>

#include "core/base64.hpp"
#include "core/dot_codec.hpp"
#include "core/line_reader.hpp"
#include "smtp/session.hpp"

using popbox::smtp::Session;
using popbox::smtp::SessionOptions;
using popbox::smtp::Step;
using Action = Step::Action;

namespace {

SessionOptions opts(bool tls = true, bool strict = false) {
  SessionOptions o;
  o.hostname = "mx.test";
  o.max_message_size = 1000;
  o.starttls_available = tls;
  o.strict_auth = strict;
  return o;
}

// Drives a session as net/smtp_connection.cpp does, with a backend that
// accepts everything unless told otherwise; returns every byte written.
struct Driver {
  explicit Driver(SessionOptions o = opts()) : s(std::move(o)) { s.greeting(out); }
  std::string mail_refusal, rcpt_refusal, data_refusal;
  bool auth_ok = true;
  std::vector<std::string> bodies;
  std::vector<std::string> auth_checks;  // "user:password"
  bool closed = false, tls_requested = false;

  void act(Step step) {
    switch (step.action) {
      case Action::none:
        return;
      case Action::close:
        closed = true;
        return;
      case Action::start_tls:
        tls_requested = true;
        return;
      case Action::check_auth:
        auth_checks.push_back(step.user + ":" + step.password);
        act(s.auth_checked(auth_ok, out));
        return;
      case Action::check_sender:
        s.sender_checked(mail_refusal, out);
        return;
      case Action::check_recipient:
        s.recipient_checked(rcpt_refusal, out);
        return;
      case Action::receive_data:
        in_body = true;
        return;
      case Action::deliver:
        FAIL() << "deliver from a line";
    }
  }

  // Feeds `bytes` (any cut), handling lines and bodies.
  void feed(std::string_view bytes) {
    reader.feed(bytes);
    for (;;) {
      if (closed || tls_requested) return;
      if (in_body) {
        std::size_t used = dec.decode(reader.buffered_data(), body);
        reader.consume(used);
        if (!dec.done()) return;
        in_body = false;
        dec = popbox::core::DotDecoder();
        Step next = s.data_received(body.size() > 1000, out);
        if (next.action == Action::deliver) {
          bodies.push_back(body);
          s.delivered(data_refusal, "Q1", out);
        }
        body.clear();
        continue;
      }
      std::string_view line;
      auto r = reader.next(line);
      if (r == popbox::core::LineReader::Result::need_more) return;
      if (r == popbox::core::LineReader::Result::too_long) {
        act(s.on_line_too_long(out));
        return;
      }
      act(s.on_line(line, out));
    }
  }

  Session s;
  std::string out;
  popbox::core::LineReader reader{4096};
  popbox::core::DotDecoder dec;
  std::string body;
  bool in_body = false;
};

const char* const kEhlo =
    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
    "250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n";

}  // namespace

TEST(SmtpSession, PipelinedTransactionGetsOneReplyAfterData) {
  const std::string input =
      "EHLO client.test\r\nMAIL FROM:<a@x.test> SIZE=20 BODY=8BITMIME SMTPUTF8\r\n"
      "RCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\nDATA\r\n"
      "Subject: hi\r\n\r\n..dot\r\nbare\nlf\r\n.\r\nQUIT\r\n";
  const std::string expected = std::string("220 mx.test ESMTP popbox sandbox ready\r\n") + kEhlo +
                               "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
                               "354 End data with <CR><LF>.<CR><LF>\r\n"
                               "250 2.0.0 Ok: queued as Q1\r\n"
                               "221 2.0.0 mx.test closing connection\r\n";
  // The same bytes and the same replies wherever the input is cut.
  for (std::size_t cut = 0; cut <= input.size(); ++cut) {
    Driver d;
    d.feed(std::string_view(input).substr(0, cut));
    d.feed(std::string_view(input).substr(cut));
    EXPECT_EQ(d.out, expected) << "cut at " << cut;
    ASSERT_EQ(d.bodies.size(), 1u);
    EXPECT_EQ(d.bodies[0], "Subject: hi\r\n\r\n.dot\r\nbare\nlf\r\n");
    EXPECT_TRUE(d.closed);
  }
  // And fed one byte at a time.
  Driver d;
  for (char c : input) d.feed(std::string_view(&c, 1));
  EXPECT_EQ(d.out, expected);
}

TEST(SmtpSession, HeloHasNoExtensionsAndNoAuth) {
  Driver d;
  d.out.clear();
  d.feed("HELO c\r\nAUTH PLAIN\r\nMAIL FROM:<a@b> SIZE=3\r\nMAIL FROM:<>\r\n");
  EXPECT_EQ(d.out,
            "250 mx.test\r\n503 5.5.1 Send EHLO first\r\n555 5.5.4 MAIL parameters need EHLO\r\n"
            "250 2.1.0 Ok\r\n");
}

TEST(SmtpSession, CommandsOutOfOrderAndUnknownOnes) {
  Driver d;
  d.out.clear();
  d.feed(
      "MAIL FROM:<a@b>\r\nEHLO\r\nRCPT TO:<x@y>\r\nDATA\r\nLHLO x\r\nBDAT 3\r\nFOO\r\n"
      "VRFY x\r\nNOOP\r\nRSET\r\n");
  EXPECT_EQ(d.out,
            "503 5.5.1 Send EHLO first\r\n501 5.5.4 EHLO needs a host name\r\n"
            "503 5.5.1 MAIL first\r\n503 5.5.1 MAIL first\r\n500 5.5.1 This is SMTP: use EHLO\r\n"
            "502 5.5.1 BDAT is not supported\r\n500 5.5.2 Unknown command\r\n"
            "252 2.5.2 Cannot VRFY, send some mail\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n");
}

TEST(SmtpSession, DataWithoutRecipientsAndTooBig) {
  Driver d;
  d.feed("EHLO c\r\nMAIL FROM:<a@b>\r\nDATA\r\n");
  EXPECT_TRUE(d.out.ends_with("554 5.5.1 No valid recipients\r\n"));
  d.out.clear();
  d.feed("MAIL FROM:<a@b> SIZE=1001\r\n");
  EXPECT_EQ(d.out, "503 5.5.1 Nested MAIL command\r\n");
  d.out.clear();
  d.feed("RCPT TO:<x@y>\r\nDATA\r\n" + std::string(1200, 'x') + "\r\n.\r\nRSET\r\n");
  EXPECT_EQ(d.out,
            "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
            "552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.0.0 Ok\r\n");
  EXPECT_TRUE(d.bodies.empty());
  d.out.clear();
  d.feed("MAIL FROM:<a@b> SIZE=1001\r\n");
  EXPECT_EQ(d.out, "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
}

TEST(SmtpSession, StartTlsResetsToBeforeEhlo) {
  Driver d;
  d.out.clear();
  d.feed("EHLO c\r\nSTARTTLS\r\nMAIL FROM:<smuggled@x>\r\n");
  EXPECT_EQ(d.out, std::string(kEhlo) + "220 2.0.0 Ready to start TLS\r\n");
  EXPECT_TRUE(d.tls_requested);
  // The driver drops what was buffered, handshakes, then:
  d.s.tls_started();
  d.tls_requested = false;
  d.reader.discard();
  d.out.clear();
  d.feed("MAIL FROM:<a@b>\r\nEHLO c\r\nSTARTTLS\r\n");
  EXPECT_EQ(d.out, std::string("503 5.5.1 Send EHLO first\r\n") +
                       "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
                       "250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN LOGIN\r\n"
                       "503 5.5.1 TLS is already active\r\n");
  EXPECT_TRUE(d.s.tls_active());
}

TEST(SmtpSession, StartTlsUnavailable) {
  Driver d(opts(false));
  d.out.clear();
  d.feed("EHLO c\r\nSTARTTLS\r\nSTARTTLS x\r\n");
  EXPECT_EQ(d.out,
            "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
            "250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN LOGIN\r\n454 4.7.0 TLS not available\r\n"
            "501 5.5.4 STARTTLS takes no arguments\r\n");
}

TEST(SmtpSession, AuthPlainAndLoginAcceptAnythingWhenNotStrict) {
  using popbox::core::base64_encode;
  Driver d;
  d.feed("EHLO c\r\n");
  d.out.clear();
  d.feed("AUTH PLAIN " + base64_encode(std::string("\0ann@x\0pw", 9)) + "\r\nAUTH LOGIN\r\n");
  EXPECT_EQ(d.out, "235 2.7.0 Authentication successful\r\n503 5.5.1 Already authenticated\r\n");
  EXPECT_EQ(d.s.auth_user(), "ann@x");
  EXPECT_TRUE(d.auth_checks.empty());

  Driver l;
  l.feed("EHLO c\r\n");
  l.out.clear();
  l.feed("AUTH LOGIN\r\n" + base64_encode("bob@y") + "\r\n" + base64_encode("secret") + "\r\n");
  EXPECT_EQ(l.out,
            "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0 Authentication successful\r\n");
  EXPECT_EQ(l.s.auth_user(), "bob@y");

  Driver p;  // PLAIN without an initial response
  p.feed("EHLO c\r\n");
  p.out.clear();
  p.feed("AUTH PLAIN\r\n" + base64_encode(std::string("\0u\0p", 4)) + "\r\n");
  EXPECT_EQ(p.out, "334 \r\n235 2.7.0 Authentication successful\r\n");
}

TEST(SmtpSession, StrictAuthAsksTheDriverAndCountsFailures) {
  using popbox::core::base64_encode;
  Driver d(opts(true, true));
  d.auth_ok = false;
  d.feed("EHLO c\r\n");
  d.out.clear();
  const std::string plain = "AUTH PLAIN " + base64_encode(std::string("\0u@x\0bad", 8)) + "\r\n";
  d.feed(plain + plain);
  EXPECT_EQ(d.out,
            "535 5.7.8 Authentication credentials invalid\r\n"
            "535 5.7.8 Authentication credentials invalid\r\n");
  EXPECT_EQ(d.auth_checks, (std::vector<std::string>{"u@x:bad", "u@x:bad"}));
  d.out.clear();
  d.feed(plain);
  EXPECT_EQ(d.out,
            "535 5.7.8 Authentication credentials invalid\r\n"
            "421 4.7.0 Too many failed logins, closing connection\r\n");
  EXPECT_TRUE(d.closed);

  Driver ok(opts(true, true));
  ok.feed("EHLO c\r\n" + plain);
  EXPECT_TRUE(ok.out.ends_with("235 2.7.0 Authentication successful\r\n"));
  EXPECT_EQ(ok.s.auth_user(), "u@x");
}

TEST(SmtpSession, AuthBadInput) {
  Driver d;
  d.feed("EHLO c\r\n");
  d.out.clear();
  d.feed("AUTH CRAM-MD5\r\nAUTH PLAIN !!!\r\nAUTH LOGIN\r\n*\r\nAUTH PLAIN " +
         popbox::core::base64_encode("nonul") + "\r\n");
  EXPECT_EQ(d.out,
            "504 5.5.4 Unrecognized authentication type\r\n"
            "501 5.5.2 Cannot decode the response\r\n334 VXNlcm5hbWU6\r\n"
            "501 5.0.0 Authentication cancelled\r\n501 5.5.2 Bad PLAIN response\r\n");
  EXPECT_TRUE(d.s.auth_user().empty());
}

TEST(SmtpSession, RefusalsFromTheBackendAreTheReplies) {
  Driver d;
  d.rcpt_refusal = "550 5.3.0 Fault injected by popbox sandbox";
  d.feed("EHLO c\r\nMAIL FROM:<a@b>\r\n");
  d.out.clear();
  d.feed("RCPT TO:<x@y>\r\nDATA\r\n");
  EXPECT_EQ(d.out,
            "550 5.3.0 Fault injected by popbox sandbox\r\n554 5.5.1 No valid recipients\r\n");
  d.rcpt_refusal.clear();
  d.data_refusal = "451 4.3.0 Fault injected by popbox sandbox";
  d.out.clear();
  d.feed("RCPT TO:<x@y>\r\nDATA\r\nhi\r\n.\r\nMAIL FROM:<a@b>\r\n");
  EXPECT_EQ(d.out,
            "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
            "451 4.3.0 Fault injected by popbox sandbox\r\n250 2.1.0 Ok\r\n");
  d.mail_refusal = "421 4.3.0 Fault injected by popbox sandbox";
  d.out.clear();
  d.feed("RSET\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\n");
  EXPECT_EQ(d.out,
            "250 2.0.0 Ok\r\n421 4.3.0 Fault injected by popbox sandbox\r\n"
            "503 5.5.1 MAIL first\r\n");
}

TEST(SmtpSession, TooManyErrorsClose) {
  Driver d;
  d.out.clear();
  std::string junk;
  for (int i = 0; i < 25; ++i) junk += "JUNK\r\n";
  d.feed(junk);
  EXPECT_TRUE(d.closed);
  EXPECT_TRUE(d.out.ends_with("421 4.7.0 Too many errors, closing connection\r\n"));
}
