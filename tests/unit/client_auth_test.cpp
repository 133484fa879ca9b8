// Mechanism choice and SASL message construction.
#include <gtest/gtest.h>

#include "client/auth.hpp"
#include "core/base64.hpp"

using namespace popbox::client;

namespace {

Capabilities caps(std::initializer_list<const char*> lines) {
  Capabilities c;
  c.known = true;
  for (const char* l : lines) c.add_line(l);
  return c;
}

}  // namespace

TEST(ClientAuth, CapaLinesAreParsed) {
  Capabilities c = caps({"USER", "SASL plain LOGIN XOAUTH2", "PIPELINING", "STLS", "UIDL", "TOP"});
  EXPECT_TRUE(c.user && c.pipelining && c.stls && c.uidl);
  EXPECT_TRUE(c.has_sasl("PLAIN"));
  EXPECT_TRUE(c.has_sasl("XOAUTH2"));
  EXPECT_FALSE(c.has_sasl("CRAM-MD5"));
}

TEST(ClientAuth, AutoChoiceTable) {
  struct Case {
    Capabilities caps;
    bool apop, secure;
    std::optional<AuthMech> want;
  };
  Capabilities unknown;  // CAPA not supported
  std::vector<Case> cases = {
      {caps({"USER", "SASL PLAIN LOGIN"}), false, true, AuthMech::plain},
      {caps({"USER", "SASL LOGIN"}), false, true, AuthMech::login},
      {caps({"USER"}), true, true, AuthMech::user},
      {caps({"TOP"}), true, true, AuthMech::apop},
      {caps({"USER", "SASL PLAIN"}), true, false, AuthMech::apop},
      {caps({"USER", "SASL PLAIN"}), false, false, AuthMech::plain},
      {unknown, false, true, AuthMech::user},
      {unknown, true, false, AuthMech::apop},
      {caps({"TOP"}), false, true, std::nullopt},
      {caps({"SASL XOAUTH2 OAUTHBEARER"}), false, true, std::nullopt},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(choose_auth(AuthMech::automatic, cases[i].caps, cases[i].apop, cases[i].secure),
              cases[i].want)
        << "case " << i;
  }
  EXPECT_EQ(choose_auth(AuthMech::xoauth2, caps({"USER"}), false, true), AuthMech::xoauth2);
}

TEST(ClientAuth, ApopDigestMatchesRfc1939) {
  EXPECT_EQ(apop_digest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf"),
            "c4c9334bac560ecc979e58001b3e22fb");
}

TEST(ClientAuth, GreetingTimestamp) {
  EXPECT_EQ(greeting_timestamp("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>"),
            "<1896.697170952@dbc.mtview.ca.us>");
  EXPECT_EQ(greeting_timestamp("+OK ready"), std::nullopt);
  EXPECT_EQ(greeting_timestamp("+OK <no-at-sign>"), std::nullopt);
  EXPECT_EQ(greeting_timestamp("+OK <a b@c>"), std::nullopt);
}

TEST(ClientAuth, SaslMessages) {
  EXPECT_EQ(popbox::core::base64_decode(sasl_plain("u", "p")), std::string("\0u\0p", 4));
  EXPECT_EQ(popbox::core::base64_decode(sasl_xoauth2("a@b", "T")),
            "user=a@b\x01"
            "auth=Bearer T\x01\x01");
  EXPECT_EQ(popbox::core::base64_decode(sasl_oauthbearer("a,=b", "h", 995, "T")),
            "n,a=a=2C=3Db,\x01host=h\x01port=995\x01"
            "auth=Bearer T\x01\x01");
}

TEST(ClientAuth, WipeClearsTheSecret) {
  std::string s = "secret";
  wipe(s);
  EXPECT_TRUE(s.empty());
}
