#include <gtest/gtest.h>

#include "smtp/transaction.hpp"

using namespace popbox::smtp;

TEST(SmtpTransaction, MailArguments) {
  struct Case {
    const char* args;
    bool utf8;
    const char* error;
    const char* sender;
  };
  const Case cases[] = {
      {"FROM:<a@b>", false, "", "a@b"},
      {"from: <a@b> size=10 body=7bit", false, "", "a@b"},
      {"FROM:<>", false, "", ""},
      {"TO:<a@b>", false, "501 5.5.4 Syntax: MAIL FROM:<address>", nullptr},
      {"FROM:a@b", false, "501 5.1.7 Bad sender address syntax", nullptr},
      {"FROM:<a b>", false, "501 5.1.7 Bad sender address syntax", nullptr},
      {"FROM:<a@b> SIZE=x", false, "501 5.5.4 Bad SIZE parameter", nullptr},
      {"FROM:<a@b> SIZE=101", false, "552 5.3.4 Message size exceeds fixed maximum message size",
       nullptr},
      {"FROM:<a@b> BODY=BINARYMIME", false, "501 5.5.4 Bad BODY parameter", nullptr},
      {"FROM:<a@b> SMTPUTF8", false, "555 5.5.4 Unsupported MAIL parameter", nullptr},
      {"FROM:<a@b> SMTPUTF8", true, "", "a@b"},
      {"FROM:<a@b> SMTPUTF8=yes", true, "555 5.5.4 Unsupported MAIL parameter", nullptr},
  };
  for (const auto& c : cases) {
    ParamRules rules;
    rules.max_message_size = 100;
    rules.smtputf8 = c.utf8;
    std::string sender = "unset";
    MailParams params;
    EXPECT_EQ(parse_mail(c.args, rules, sender, params), c.error) << c.args;
    EXPECT_EQ(sender, c.sender ? c.sender : "unset") << c.args;
  }
}

TEST(SmtpTransaction, RcptArguments) {
  std::string r;
  EXPECT_EQ(parse_rcpt("TO:<x@y>", r), "");
  EXPECT_EQ(r, "x@y");
  EXPECT_EQ(parse_rcpt("TO:<>", r), "501 5.1.3 Bad recipient address syntax");
  EXPECT_EQ(parse_rcpt("TO:<x@y> NOTIFY=NEVER", r), "555 5.5.4 Unsupported RCPT parameter");
  EXPECT_EQ(parse_rcpt("FROM:<x@y>", r), "501 5.5.4 Syntax: RCPT TO:<address>");
}

TEST(SmtpTransaction, ErrorCountClosesAtTheBound) {
  ErrorCount errors(2);
  std::string out;
  EXPECT_FALSE(errors.add("500 a", out));
  EXPECT_TRUE(errors.add("500 b", out));
  EXPECT_EQ(out, "500 a\r\n500 b\r\n421 4.7.0 Too many errors, closing connection\r\n");
}
