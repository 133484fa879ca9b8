#include <gtest/gtest.h>

#include "core/dot_codec.hpp"
#include "core/line_reader.hpp"
#include "lmtp/session.hpp"

using popbox::lmtp::RcptStatus;
using popbox::lmtp::Session;
using popbox::lmtp::SessionOptions;
using popbox::lmtp::Step;
using Action = Step::Action;

namespace {

struct Harness {
  explicit Harness(SessionOptions o = {}) : s(std::move(o)) {}
  Step send(std::string_view line) {
    out.clear();
    return s.on_line(line, out);
  }
  Session s;
  std::string out;
};

}  // namespace

TEST(LmtpSession, FullTransactionWithOneReplyPerRecipient) {
  SessionOptions o;
  o.hostname = "mx.test";
  o.max_message_size = 1000;
  Harness h(o);
  h.s.greeting(h.out);
  EXPECT_EQ(h.out, "220 mx.test LMTP popbox ready\r\n");
  h.send("LHLO client.test");
  EXPECT_EQ(h.out,
            "250-mx.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
            "250 SIZE 1000\r\n");
  h.send("MAIL FROM:<sender@x.test> SIZE=100 BODY=8BITMIME");
  EXPECT_EQ(h.out, "250 2.1.0 Ok\r\n");
  Step step = h.send("RCPT TO:<alice@example.com>");
  ASSERT_EQ(step.action, Action::check_recipient);
  EXPECT_EQ(step.address, "alice@example.com");
  EXPECT_EQ(step.size_hint, 100u);
  h.out.clear();
  h.s.recipient_checked(RcptStatus::ok, h.out);
  EXPECT_EQ(h.out, "250 2.1.5 Ok\r\n");
  h.send("rcpt to:<nobody@example.com>");
  h.out.clear();
  h.s.recipient_checked(RcptStatus::no_such_user, h.out);
  EXPECT_EQ(h.out, "550 5.1.1 <nobody@example.com> User unknown\r\n");
  h.send("RCPT TO:<bob>");
  h.out.clear();
  h.s.recipient_checked(RcptStatus::ok, h.out);
  EXPECT_EQ(h.send("DATA").action, Action::receive_data);
  EXPECT_EQ(h.out, "354 End data with <CR><LF>.<CR><LF>\r\n");
  h.out.clear();
  EXPECT_EQ(h.s.data_received(false, h.out).action, Action::deliver);
  EXPECT_EQ(h.s.recipients(), (std::vector<std::string>{"alice@example.com", "bob"}));
  EXPECT_EQ(h.s.sender(), "sender@x.test");
  h.s.delivered({RcptStatus::ok, RcptStatus::over_quota}, h.out);
  EXPECT_EQ(h.out, "250 2.0.0 <alice@example.com> Saved\r\n552 5.2.2 <bob> Mailbox full\r\n");
  EXPECT_TRUE(h.s.recipients().empty());
  EXPECT_EQ(h.send("QUIT").action, Action::close);
  EXPECT_EQ(h.out, "221 2.0.0 mx.test closing connection\r\n");
}

TEST(LmtpSession, SequenceErrors) {
  Harness h;
  h.send("MAIL FROM:<a@b>");
  EXPECT_EQ(h.out, "503 5.5.1 Send LHLO first\r\n");
  h.send("EHLO x");
  EXPECT_EQ(h.out, "500 5.5.1 This is LMTP: use LHLO\r\n");
  h.send("LHLO x");
  h.send("RCPT TO:<a@b>");
  EXPECT_EQ(h.out, "503 5.5.1 MAIL first\r\n");
  h.send("MAIL FROM:<>");
  EXPECT_EQ(h.out, "250 2.1.0 Ok\r\n");
  EXPECT_EQ(h.s.sender(), "");
  h.send("MAIL FROM:<a@b>");
  EXPECT_EQ(h.out, "503 5.5.1 Nested MAIL command\r\n");
  h.send("DATA");
  EXPECT_EQ(h.out, "503 5.5.1 No valid recipients\r\n");
  h.send("RCPT TO:<>");
  EXPECT_EQ(h.out, "501 5.1.3 Bad recipient address syntax\r\n");
  h.send("RCPT TO:alice");
  EXPECT_EQ(h.out, "501 5.1.3 Bad recipient address syntax\r\n");
  h.send("RSET");
  EXPECT_EQ(h.out, "250 2.0.0 Ok\r\n");
  h.send("MAIL FROM:<a@b> SIZE=999999999999");
  EXPECT_EQ(h.out, "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
  h.send("MAIL FROM:<a@b> XYZ=1");
  EXPECT_EQ(h.out, "555 5.5.4 Unsupported MAIL parameter\r\n");
  h.send("FOO");
  EXPECT_EQ(h.out, "500 5.5.2 Unknown command\r\n");
}

TEST(LmtpSession, TooBigBodyAnswersEveryRecipient) {
  Harness h;
  h.send("LHLO x");
  h.send("MAIL FROM:<a@b>");
  for (const char* r : {"RCPT TO:<u1>", "RCPT TO:<u2>"}) {
    h.send(r);
    h.s.recipient_checked(RcptStatus::ok, h.out);
  }
  h.send("DATA");
  h.out.clear();
  EXPECT_EQ(h.s.data_received(true, h.out).action, Action::none);
  EXPECT_EQ(h.out,
            "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
            "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
}

TEST(LmtpSession, TemporaryQuotaAndFailures) {
  SessionOptions o;
  o.quota_temporary = true;
  Harness h(o);
  h.send("LHLO x");
  h.send("MAIL FROM:<a@b>");
  h.send("RCPT TO:<full@x>");
  h.out.clear();
  h.s.recipient_checked(RcptStatus::over_quota, h.out);
  EXPECT_EQ(h.out, "452 4.2.2 <full@x> Mailbox full, try again later\r\n");
  h.send("RCPT TO:<broken@x>");
  h.out.clear();
  h.s.recipient_checked(RcptStatus::temp_failure, h.out);
  EXPECT_EQ(h.out, "451 4.3.0 <broken@x> Temporary failure, try again later\r\n");
}

TEST(LmtpSession, UnsafeMailboxIs450ForThatRecipientOnly) {
  Harness h;
  h.send("LHLO x");
  h.send("MAIL FROM:<a@b>");
  h.send("RCPT TO:<linked@x>");
  h.out.clear();
  h.s.recipient_checked(RcptStatus::unsafe_mailbox, h.out);
  EXPECT_EQ(h.out, "450 4.3.0 <linked@x> Mailbox unavailable, try again later\r\n");
  for (const char* rcpt : {"RCPT TO:<late@x>", "RCPT TO:<fine@x>"}) {
    h.send(rcpt);
    h.out.clear();
    h.s.recipient_checked(RcptStatus::ok, h.out);
    EXPECT_EQ(h.out, "250 2.1.5 Ok\r\n");
  }
  EXPECT_EQ(h.send("DATA").action, Action::receive_data);
  h.out.clear();
  EXPECT_EQ(h.s.data_received(false, h.out).action, Action::deliver);
  // A link planted between RCPT and DATA: the same code after DATA.
  h.s.delivered({RcptStatus::unsafe_mailbox, RcptStatus::ok}, h.out);
  EXPECT_EQ(h.out,
            "450 4.3.0 <late@x> Mailbox unavailable, try again later\r\n"
            "250 2.0.0 <fine@x> Saved\r\n");
}

TEST(LmtpSession, ControlCharactersInPathsAreRefused) {
  Harness h;
  h.send("LHLO x");
  h.send("MAIL FROM:<a@b>");
  h.send(std::string("RCPT TO:<alice@example.com\rX-Injected:1>"));
  EXPECT_EQ(h.out, "501 5.1.3 Bad recipient address syntax\r\n");
  h.send(std::string("RCPT TO:<al\x7fice>"));
  EXPECT_EQ(h.out, "501 5.1.3 Bad recipient address syntax\r\n");
}

namespace {

struct Delivery {
  std::vector<std::string> recipients;
  std::string body;
};

// Drives the session over a whole input stream the way net/lmtp_connection
// does: lines through the LineReader, DATA bodies through the DotDecoder,
// every recipient accepted. Fed in blocks of `block` bytes.
std::vector<Delivery> drive(std::string_view stream, std::size_t block) {
  Session s{SessionOptions{}};
  popbox::core::LineReader reader(1000);
  std::vector<Delivery> deliveries;
  std::string out;
  std::size_t pos = 0;
  auto feed = [&] {
    if (pos >= stream.size()) return false;
    std::string_view b = stream.substr(pos, block);
    pos += b.size();
    reader.feed(b);
    return true;
  };
  for (int guard = 0; guard < 10000; ++guard) {
    std::string_view line;
    auto r = reader.next(line);
    if (r == popbox::core::LineReader::Result::need_more) {
      if (!feed()) break;
      continue;
    }
    if (r != popbox::core::LineReader::Result::line) break;
    Step step = s.on_line(line, out);
    if (step.action == Action::check_recipient) s.recipient_checked(RcptStatus::ok, out);
    if (step.action == Action::close) break;
    if (step.action != Action::receive_data) continue;
    popbox::core::DotDecoder dec;
    std::string body;
    reader.consume(dec.decode(reader.buffered_data(), body));
    while (!dec.done() && feed()) reader.consume(dec.decode(reader.buffered_data(), body));
    if (!dec.done()) break;
    if (s.data_received(false, out).action == Action::deliver) {
      deliveries.push_back({s.recipients(), body});
      s.delivered(std::vector<RcptStatus>(s.recipients().size(), RcptStatus::ok), out);
    }
  }
  return deliveries;
}

}  // namespace

// SMTP smuggling (2023): "\n.\n" must not end DATA, or the rest of the body
// becomes a second transaction to a recipient the sender chose.
TEST(LmtpSession, SmuggledTransactionStaysInsideTheFirstMessage) {
  const std::string body =
      "Subject: hi\r\n\r\nhello\n.\nMAIL FROM:<x>\r\nRCPT TO:<bob>\r\nDATA\r\n"
      "Subject: smuggled\r\n\r\nevil\r\n";
  const std::string stream =
      "LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice>\r\nDATA\r\n" + body + ".\r\nQUIT\r\n";
  for (std::string_view bad : {"\n.\n", "\r\n.\n", "\n.\r\n"}) {
    std::string variant = body;
    variant.replace(variant.find("\n.\n"), 3, bad);
    std::string s = stream;
    s.replace(s.find(body), body.size(), variant);
    for (std::size_t block = 1; block <= s.size(); ++block) {
      std::vector<Delivery> d = drive(s, block);
      ASSERT_EQ(d.size(), 1u) << "block " << block;
      EXPECT_EQ(d[0].recipients, (std::vector<std::string>{"alice"}));
      ASSERT_EQ(d[0].body, variant) << "block " << block;
    }
  }
}
