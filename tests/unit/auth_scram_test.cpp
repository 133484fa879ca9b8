// SCRAM-SHA-256: the message parser (table-driven), the stored secret in
// doveadm's format, the key arithmetic (RFC 7677 vector), the server
// exchange and the Authenticator's lookup.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "auth/authenticator.hpp"
#include "auth/password_scheme.hpp"
#include "auth/scram.hpp"
#include "auth/scram_message.hpp"
#include "auth/scram_server.hpp"
#include "core/base64.hpp"

namespace popbox::auth {
namespace {

using core::base64_decode;
using core::base64_encode;
using Binding = ScramClientFirst::Binding;

// RFC 7677 section 3 ("user", "pencil"), stored as doveadm writes it.
const std::string pencil_secret =
    "4096,W22ZaJ0SNY7soEsUEjb6gQ==,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
// `doveadm pw -s SCRAM-SHA-256 -p secret` (random salt).
const std::string doveadm_secret =
    "{SCRAM-SHA-256}4096,IXG1VpOJodchr8Y7Hj7y3A==,q5+YV4vHddSlNkX/sl4BiDqCyUVBYDlDSExVqTghrv8=,"
    "sC46q+MdUa3KJHFCU2SQcsU6xxDhn5kSgJKCnyMr5Oc=";

struct FirstCase {
  std::string in;
  bool ok;
  ScramParseError error;
  Binding binding;
  std::string cb_name, authzid, user, nonce, bare;
};

FirstCase bad_first(std::string in, ScramParseError e) {
  return {std::move(in), false, e, Binding::none, "", "", "", "", ""};
}

TEST(ScramMessage, ClientFirstTable) {
  const auto M = ScramParseError::malformed;
  const auto X = ScramParseError::extension;
  const FirstCase cases[] = {
      {"n,,n=user,r=abc", true, M, Binding::none, "", "", "user", "abc", "n=user,r=abc"},
      {"y,,n=user,r=abc", true, M, Binding::client_only, "", "", "user", "abc", "n=user,r=abc"},
      {"p=tls-exporter,,n=u,r=x", true, M, Binding::used, "tls-exporter", "", "u", "x", "n=u,r=x"},
      {"n,a=user,n=user,r=abc", true, M, Binding::none, "", "user", "user", "abc", "n=user,r=abc"},
      {"n,,n=a=2Cb=3Dc,r=abc", true, M, Binding::none, "", "", "a,b=c", "abc", "n=a=2Cb=3Dc,r=abc"},
      {"n,a=x=3D,n=u,r=~!", true, M, Binding::none, "", "x=", "u", "~!", "n=u,r=~!"},
      bad_first("n,,n=user,r=abc,x=ext", X),
      bad_first("n,,m=must,n=user,r=abc", X),
      bad_first("n,,n=user,r=abc,", M),
      bad_first("n,,n=user,r=abc,1=2", M),
      bad_first("", M),
      bad_first("n,,n=user", M),
      bad_first("n,n=user,r=abc", M),
      bad_first("x,,n=user,r=abc", M),
      bad_first("p=,,n=user,r=abc", M),
      bad_first("p=tls_unique,,n=user,r=abc", M),
      bad_first("n,b=x,n=user,r=abc", M),
      bad_first("n,a=,n=user,r=abc", M),
      bad_first("n,,n=,r=abc", M),
      bad_first("n,,n=us=2Xer,r=abc", M),
      bad_first("n,,n=user=,r=abc", M),
      bad_first("n,,n=user=2,r=abc", M),
      bad_first("n,,u=user,r=abc", M),
      bad_first("n,,n=user,r=", M),
      bad_first("n,,n=user,r=a b", M),
      bad_first("n,,n=user,r=a\x7f", M),
      bad_first("n,,r=abc,n=user", M),
      bad_first(std::string("n,,n=us\0er,r=abc", 16), M),
  };
  for (const FirstCase& c : cases) {
    auto r = parse_client_first(c.in);
    ASSERT_EQ(r.value.has_value(), c.ok) << c.in;
    if (!c.ok) {
      EXPECT_EQ(r.error, c.error) << c.in;
      continue;
    }
    EXPECT_EQ(r.value->binding, c.binding) << c.in;
    EXPECT_EQ(r.value->cb_name, c.cb_name) << c.in;
    EXPECT_EQ(r.value->authzid, c.authzid) << c.in;
    EXPECT_EQ(r.value->user, c.user) << c.in;
    EXPECT_EQ(r.value->nonce, c.nonce) << c.in;
    EXPECT_EQ(r.value->bare, c.bare) << c.in;
    EXPECT_EQ(r.value->gs2_header + r.value->bare, c.in) << c.in;
  }
}

TEST(ScramMessage, ClientFinalTable) {
  struct Case {
    std::string in;
    bool ok;
    ScramParseError error;
    std::string cb, nonce, without_proof;
  };
  const auto bad = [](std::string in, ScramParseError e) {
    return Case{std::move(in), false, e, "", "", ""};
  };
  const Case cases[] = {
      {"c=biws,r=abc,p=AAAA", true, ScramParseError::malformed, "n,,", "abc", "c=biws,r=abc"},
      {"c=eSws,r=a~c,p=AQID", true, ScramParseError::malformed, "y,,", "a~c", "c=eSws,r=a~c"},
      bad("c=biws,r=abc,x=1,p=AAAA", ScramParseError::extension),
      bad("c=biws,r=abc", ScramParseError::malformed),
      bad("c=biws,r=abc,p=", ScramParseError::malformed),
      bad("c=biws,r=abc,p=AAA", ScramParseError::malformed),  // not padded base64
      bad("c=,r=abc,p=AAAA", ScramParseError::malformed),
      bad("c=b!ws,r=abc,p=AAAA", ScramParseError::malformed),
      bad("r=abc,c=biws,p=AAAA", ScramParseError::malformed),
      bad("c=biws,r=,p=AAAA", ScramParseError::malformed),
      bad("c=biws,r=abc,p=AAAA,", ScramParseError::malformed),
      bad("c=biws,r=abc,,p=AAAA", ScramParseError::malformed),
      bad("", ScramParseError::malformed),
  };
  for (const Case& c : cases) {
    auto r = parse_client_final(c.in);
    ASSERT_EQ(r.value.has_value(), c.ok) << c.in;
    if (!c.ok) {
      EXPECT_EQ(r.error, c.error) << c.in;
      continue;
    }
    EXPECT_EQ(r.value->channel_binding, c.cb) << c.in;
    EXPECT_EQ(r.value->nonce, c.nonce) << c.in;
    EXPECT_EQ(r.value->without_proof, c.without_proof) << c.in;
  }
}

TEST(ScramMessage, SaslnameEscapes) {
  EXPECT_EQ(decode_saslname("a=2Cb"), "a,b");
  EXPECT_EQ(decode_saslname("=3D=3D"), "==");
  EXPECT_EQ(decode_saslname("plain"), "plain");
  EXPECT_FALSE(decode_saslname(""));
  EXPECT_FALSE(decode_saslname("a=2c"));  // escapes are upper case
  EXPECT_FALSE(decode_saslname("a="));
  EXPECT_FALSE(decode_saslname("a,b"));
}

TEST(ScramSecret, ParsesAndFormatsDoveadmSecrets) {
  auto s = parse_scram_secret(pencil_secret);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->iterations, 4096u);
  EXPECT_EQ(base64_encode(s->salt), "W22ZaJ0SNY7soEsUEjb6gQ==");
  EXPECT_EQ(format_scram_secret(*s), "{SCRAM-SHA-256}" + pencil_secret);
  const std::vector<std::string> bad_secrets = {"",
                                                "4096",
                                                "4096,W22ZaJ0SNY7soEsUEjb6gQ==,AAAA,AAAA",
                                                "0," + pencil_secret.substr(5),
                                                "x096," + pencil_secret.substr(5),
                                                "99999999," + pencil_secret.substr(5),
                                                pencil_secret + ",x",
                                                "4096,," + pencil_secret.substr(30)};
  for (const std::string& bad : bad_secrets) {
    EXPECT_FALSE(parse_scram_secret(bad)) << bad;
  }
}

TEST(ScramSecret, DerivationMatchesRfc7677AndDoveadm) {
  auto salt = base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
  auto d = derive_scram_secret("pencil", *salt, 4096);
  ASSERT_TRUE(d);
  EXPECT_EQ(format_scram_secret(*d), "{SCRAM-SHA-256}" + pencil_secret);
  // A secret doveadm wrote verifies a PASS, through the scheme table.
  EXPECT_TRUE(verify_password(doveadm_secret, "secret"));
  EXPECT_FALSE(verify_password(doveadm_secret, "Secret"));
  EXPECT_FALSE(verify_password("{SCRAM-SHA-256}4096,garbage", "secret"));
  EXPECT_EQ(cost_class(doveadm_secret), "scram:4096");
  const std::string dummy = dummy_hash_like(doveadm_secret);
  EXPECT_TRUE(dummy.starts_with("{SCRAM-SHA-256}4096,")) << dummy;
  EXPECT_FALSE(verify_password(dummy, "secret"));
}

TEST(ScramSecret, MadeSecretsHaveDoveadmsShape) {
  const std::string a = make_scram_secret("pw"), b = make_scram_secret("pw");
  EXPECT_NE(a, b);  // random salt
  EXPECT_EQ(hash_password("pw", "scram-sha-256").substr(0, 20), "{SCRAM-SHA-256}4096,");
  EXPECT_THROW(hash_password("pw", "MD5"), std::invalid_argument);
  const StoredPassword sp = split_scheme(a);
  EXPECT_EQ(sp.scheme, "SCRAM-SHA-256");
  auto s = parse_scram_secret(sp.data);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->iterations, 4096u);
  EXPECT_EQ(s->salt.size(), 16u);
  EXPECT_TRUE(verify_password(a, "pw"));
  EXPECT_FALSE(verify_password(a, "pw "));
  EXPECT_EQ(make_scram_nonce().size(), 24u);
  EXPECT_NE(make_scram_nonce(), make_scram_nonce());
}

TEST(ScramServer, Rfc7677Exchange) {
  ScramServer s(false, {});
  ASSERT_EQ(s.client_first("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"), ScramStatus::ok);
  EXPECT_EQ(s.user(), "user");
  EXPECT_EQ(
      s.server_first(*parse_scram_secret(pencil_secret), "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"),
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
  ASSERT_EQ(s.client_final("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                           "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
            ScramStatus::ok);
  EXPECT_EQ(s.server_final(), "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
  // A proof with one bit flipped.
  ScramServer t(false, {});
  t.client_first("n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  t.server_first(*parse_scram_secret(pencil_secret), "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
  EXPECT_EQ(t.client_final("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                           "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVE="),
            ScramStatus::bad_proof);
  // A short proof never matches.
  EXPECT_FALSE(scram_proof_valid(*parse_scram_secret(pencil_secret), "x", "short"));
}

class ScramLookupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "popbox-scram-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ / "users") << "alice:" << doveadm_secret << "\n"
                                  << "bob:{PLAIN}bob pw\n"
                                  << "carol:{SHA512-CRYPT}$6$abc$def\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(ScramLookupTest, KnownPlainAndUnknownUsers) {
  Authenticator a(dir_ / "users");
  a.load();
  ScramLookup alice = a.scram_lookup("alice");
  ASSERT_EQ(alice.result, AuthResult::ok);
  EXPECT_EQ(format_scram_secret(alice.secret), doveadm_secret);
  // {PLAIN}: keys derived with a made-up salt, stable within the process.
  ScramLookup bob = a.scram_lookup("bob"), bob2 = a.scram_lookup("bob");
  EXPECT_EQ(bob.secret.salt.size(), 16u);
  EXPECT_EQ(bob.secret.salt, bob2.secret.salt);
  EXPECT_TRUE(verify_scram_password(bob.secret, "bob pw"));
  // Unknown users and unusable schemes look like real users: same shape,
  // same answer twice, and no password matches.
  for (const char* name : {"nobody", "carol"}) {
    ScramLookup x = a.scram_lookup(name), y = a.scram_lookup(name);
    EXPECT_EQ(x.result, AuthResult::ok) << name;
    EXPECT_EQ(x.secret.iterations, 4096u) << name;
    EXPECT_EQ(x.secret.salt.size(), 16u) << name;
    EXPECT_EQ(format_scram_secret(x.secret), format_scram_secret(y.secret)) << name;
    EXPECT_NE(x.secret.salt, bob.secret.salt) << name;
    EXPECT_FALSE(verify_scram_password(x.secret, "")) << name;
  }
  EXPECT_NE(a.scram_lookup("nobody").secret.salt, a.scram_lookup("carol").secret.salt);
}

TEST(ScramLookup, UnreadableDatabaseIsTemporary) {
  Authenticator a("/nonexistent/popbox/users");
  EXPECT_EQ(a.scram_lookup("alice").result, AuthResult::temp_failure);
}

}  // namespace
}  // namespace popbox::auth
