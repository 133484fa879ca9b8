// SASL SCRAM-SHA-256(-PLUS) in the POP3 session, byte by byte (RFC 7677
// section 3 test vector, RFC 5034 framing, RFC 5802 channel binding).

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "auth/scram.hpp"
#include "core/base64.hpp"
#include "core/limits.hpp"
#include "pop3/session.hpp"

using popbox::auth::ChannelBinding;
using popbox::auth::ScramSecret;
using popbox::core::base64_decode;
using popbox::core::base64_encode;
using popbox::pop3::Credentials;
using popbox::pop3::LoginOutcome;
using popbox::pop3::Session;
using popbox::pop3::SessionOptions;
using popbox::pop3::Step;
using popbox::store::MessageInfo;
using Action = Step::Action;

namespace {

// RFC 7677 section 3: user "user", password "pencil".
const std::string client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const std::string server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const std::string server_first =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const std::string client_final =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const std::string server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
// `doveadm pw -s SCRAM-SHA-256 -p pencil` with the RFC's salt.
const std::string stored =
    "4096,W22ZaJ0SNY7soEsUEjb6gQ==,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

ScramSecret pencil() {
  return *popbox::auth::parse_scram_secret(stored);
}

std::string b64(std::string_view s) {
  return base64_encode(s);
}

/// What a client computes: base64 ClientProof for `auth_message`.
std::string client_proof(std::string_view password, const ScramSecret& s,
                         std::string_view auth_message) {
  std::string salted(32, '\0');
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(s.salt.data()),
                    static_cast<int>(s.salt.size()), static_cast<int>(s.iterations), EVP_sha256(),
                    32, reinterpret_cast<unsigned char*>(salted.data()));
  std::string client_key = popbox::auth::hmac_sha256(salted, "Client Key");
  std::string sig = popbox::auth::hmac_sha256(s.stored_key, auth_message);
  for (std::size_t i = 0; i < 32; ++i) client_key[i] ^= sig[i];
  return base64_encode(client_key);
}

struct Harness {
  explicit Harness(SessionOptions opts = {}) : session(std::move(opts)) {}
  Step send(std::string_view line) {
    out.clear();
    return session.on_line(line, out);
  }
  /// Sends a client-final message the session accepts and lets it through
  /// as the driver does once its gates pass.
  Step send_verified(std::string_view line) {
    Step step = send(line);
    if (step.action == Action::login && step.credentials.verified) session.scram_verified(out);
    return step;
  }
  Step lookup_done(std::optional<ScramSecret> secret, std::string_view nonce = server_nonce) {
    out.clear();
    return session.scram_lookup_done(std::move(secret), nonce, out);
  }
  Session session;
  std::vector<MessageInfo> messages{{"uid-a", 10}};
  std::string out;
};

SessionOptions tls13() {
  SessionOptions o;
  o.secure = true;
  o.channel_binding = ChannelBinding{"tls-exporter", std::string(32, '\x5a')};
  return o;
}

}  // namespace

TEST(SessionScram, Rfc7677ExchangeWithoutInitialResponse) {
  Harness h;
  EXPECT_EQ(h.send("AUTH SCRAM-SHA-256").action, Action::none);
  EXPECT_EQ(h.out, "+ \r\n");
  Step step = h.send(b64(client_first));
  ASSERT_EQ(step.action, Action::scram);
  EXPECT_EQ(step.credentials.user, "user");
  EXPECT_EQ(h.out, "");
  EXPECT_EQ(h.lookup_done(pencil()).action, Action::none);
  EXPECT_EQ(h.out, "+ " + b64(server_first) + "\r\n");
  // A right proof goes to the driver's login gates first: nothing is
  // written until the driver calls scram_verified().
  step = h.send(b64(client_final));
  ASSERT_EQ(step.action, Action::login);
  EXPECT_EQ(step.credentials.kind, Credentials::Kind::scram);
  EXPECT_TRUE(step.credentials.verified);
  EXPECT_FALSE(step.credentials.acknowledged);
  EXPECT_EQ(h.out, "");
  h.session.scram_verified(h.out);
  EXPECT_EQ(h.out, "+ " + b64(server_final) + "\r\n");
  step = h.send("");
  ASSERT_EQ(step.action, Action::login);
  EXPECT_EQ(step.credentials.kind, Credentials::Kind::scram);
  EXPECT_TRUE(step.credentials.verified);
  EXPECT_TRUE(step.credentials.acknowledged);
  EXPECT_EQ(step.credentials.user, "user");
  h.out.clear();
  h.session.login_done(LoginOutcome::ok, &h.messages, h.out);
  EXPECT_EQ(h.out, "+OK Logged in, 1 messages (10 octets).\r\n");
  EXPECT_EQ(h.session.state(), Session::State::transaction);
}

TEST(SessionScram, InitialResponseAndLowerCaseMechanism) {
  Harness h;
  Step step = h.send("AUTH scram-sha-256 " + b64(client_first));
  ASSERT_EQ(step.action, Action::scram);
  h.lookup_done(pencil());
  EXPECT_EQ(h.out, "+ " + b64(server_first) + "\r\n");
  h.send_verified(b64(client_final));
  EXPECT_EQ(h.out, "+ " + b64(server_final) + "\r\n");
  // "=" is an empty response too (RFC 5034 section 4).
  EXPECT_EQ(h.send("=").action, Action::login);
}

TEST(SessionScram, WrongPasswordFailsThroughTheLoginPath) {
  Harness h;
  h.send("AUTH SCRAM-SHA-256 " + b64(client_first));
  h.lookup_done(pencil());
  std::string auth_message = client_first.substr(3) + "," + server_first + "," +
                             "c=biws,r=rOprNGfwEbeRWgbNEkqO" + server_nonce;
  std::string bad = "c=biws,r=rOprNGfwEbeRWgbNEkqO" + server_nonce +
                    ",p=" + client_proof("pencil2", pencil(), auth_message);
  Step step = h.send(b64(bad));
  ASSERT_EQ(step.action, Action::login);
  EXPECT_FALSE(step.credentials.verified);
  EXPECT_EQ(h.out, "");  // no server signature for a wrong proof
  h.out.clear();
  h.session.login_done(LoginOutcome::bad_credentials, nullptr, h.out);
  EXPECT_EQ(h.out, "-ERR [AUTH] Authentication failed.\r\n");
  EXPECT_EQ(h.session.state(), Session::State::authorization);
}

TEST(SessionScram, WrongNonceOrBindingFailLikeAWrongPassword) {
  for (std::string final_msg :
       {std::string(
            "c=biws,r=rOprNGfwEbeRWgbNEkqOX,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
        std::string("c=eSws,r=rOprNGfwEbeRWgbNEkqO") + server_nonce +
            ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="}) {
    Harness h;
    h.send("AUTH SCRAM-SHA-256 " + b64(client_first));
    h.lookup_done(pencil());
    Step step = h.send(b64(final_msg));
    ASSERT_EQ(step.action, Action::login) << final_msg;
    EXPECT_FALSE(step.credentials.verified);
  }
}

TEST(SessionScram, CancelAndBadInput) {
  Harness h;
  h.send("AUTH SCRAM-SHA-256");
  h.send("*");
  EXPECT_EQ(h.out, "-ERR Authentication cancelled.\r\n");
  h.send("AUTH SCRAM-SHA-256 " + b64(client_first));
  h.lookup_done(pencil());
  h.send("*");
  EXPECT_EQ(h.out, "-ERR Authentication cancelled.\r\n");
  h.send("NOOP");  // back to commands
  EXPECT_EQ(h.out, "-ERR Unknown command.\r\n");
  h.send("AUTH SCRAM-SHA-256 !!!");
  EXPECT_EQ(h.out, "-ERR Invalid base64 data.\r\n");
  h.send("AUTH SCRAM-SHA-256 " + b64("x,,n=user,r=abc"));
  EXPECT_EQ(h.out, "-ERR Invalid SCRAM message.\r\n");
  h.send("AUTH SCRAM-SHA-256 " + b64("n,,m=ext,n=user,r=abc"));
  EXPECT_EQ(h.out, "-ERR SCRAM extensions are not supported.\r\n");
  h.send("AUTH SCRAM-SHA-256 " + b64("n,a=admin,n=user,r=abc"));
  EXPECT_EQ(h.out, "-ERR [AUTH] Authorization identity not permitted.\r\n");
  // After the server-final message only an empty response completes the login.
  Harness g;
  g.send("AUTH SCRAM-SHA-256 " + b64(client_first));
  g.lookup_done(pencil());
  g.send_verified(b64(client_final));
  EXPECT_EQ(g.send(b64("x")).action, Action::none);
  EXPECT_EQ(g.out, "-ERR Expected an empty response.\r\n");
}

TEST(SessionScram, LookupFailureIsTemporary) {
  Harness h;
  h.send("AUTH SCRAM-SHA-256 " + b64(client_first));
  h.lookup_done(std::nullopt);
  EXPECT_EQ(h.out, "-ERR [SYS/TEMP] Temporary server failure, try again later.\r\n");
  h.send(b64(client_final));  // not in SASL any more: read as a command
  EXPECT_EQ(h.out, "-ERR Unknown command.\r\n");
}

TEST(SessionScram, CapaAndAuthListOnlyUsableMechanisms) {
  SessionOptions plain;
  plain.plaintext_allowed = false;
  plain.stls_available = true;
  Harness h(plain);
  h.send("CAPA");
  EXPECT_NE(h.out.find("\r\nSASL SCRAM-SHA-256\r\n"), std::string::npos) << h.out;
  h.send("AUTH");
  EXPECT_EQ(h.out, "+OK\r\nSCRAM-SHA-256\r\n.\r\n");
  h.send("AUTH SCRAM-SHA-256-PLUS");
  EXPECT_EQ(h.out, "-ERR Unsupported authentication mechanism.\r\n");
  h.send("STLS");
  h.session.tls_started(true, ChannelBinding{"tls-exporter", std::string(32, 'x')});
  h.send("CAPA");
  EXPECT_NE(h.out.find("\r\nSASL PLAIN LOGIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS\r\n"),
            std::string::npos)
      << h.out;
  h.send("AUTH");
  EXPECT_EQ(h.out, "+OK\r\nPLAIN\r\nLOGIN\r\nSCRAM-SHA-256\r\nSCRAM-SHA-256-PLUS\r\n.\r\n");
  // TLS without binding data (an unknown TLS version): no -PLUS.
  Harness t(SessionOptions{});
  t.session.tls_started(true, {});
  t.send("CAPA");
  EXPECT_NE(t.out.find("\r\nSASL PLAIN LOGIN SCRAM-SHA-256\r\n"), std::string::npos) << t.out;
}

TEST(SessionScram, PlusWithTheRightBindingSucceeds) {
  SessionOptions o = tls13();
  Harness h(o);
  const std::string first = "p=tls-exporter,,n=user,r=rOprNGfwEbeRWgbNEkqO";
  h.send("AUTH SCRAM-SHA-256-PLUS " + b64(first));
  h.lookup_done(pencil());
  EXPECT_EQ(h.out, "+ " + b64(server_first) + "\r\n");
  const std::string cbind = b64("p=tls-exporter,," + o.channel_binding.data);
  const std::string without_proof = "c=" + cbind + ",r=rOprNGfwEbeRWgbNEkqO" + server_nonce;
  const std::string auth_message =
      first.substr(first.find("n=user")) + "," + server_first + "," + without_proof;
  h.send_verified(b64(without_proof + ",p=" + client_proof("pencil", pencil(), auth_message)));
  ASSERT_EQ(h.out.substr(0, 4), "+ dj") << h.out;  // "v=..."
  Step step = h.send("");
  ASSERT_EQ(step.action, Action::login);
  EXPECT_TRUE(step.credentials.verified);
}

TEST(SessionScram, PlusWithOtherBindingDataFails) {
  SessionOptions o = tls13();
  Harness h(o);
  const std::string first = "p=tls-exporter,,n=user,r=rOprNGfwEbeRWgbNEkqO";
  h.send("AUTH SCRAM-SHA-256-PLUS " + b64(first));
  h.lookup_done(pencil());
  // A man in the middle has other binding data than the client's link.
  const std::string cbind = b64("p=tls-exporter,," + std::string(32, '\x11'));
  const std::string without_proof = "c=" + cbind + ",r=rOprNGfwEbeRWgbNEkqO" + server_nonce;
  const std::string auth_message =
      first.substr(first.find("n=user")) + "," + server_first + "," + without_proof;
  Step step = h.send(b64(without_proof + ",p=" + client_proof("pencil", pencil(), auth_message)));
  ASSERT_EQ(step.action, Action::login);
  EXPECT_FALSE(step.credentials.verified);
}

TEST(SessionScram, ChannelBindingFlagsThatDoNotFitAreRefused) {
  const std::string refused = "-ERR [AUTH] Channel binding refused.\r\n";
  struct Case {
    bool tls;
    std::string mech, gs2;
    bool ok;
  } cases[] = {
      // "y": the client could bind but believes the server cannot. Where
      // -PLUS is offered that belief is wrong: a downgrade (RFC 5802 s. 6).
      {true, "SCRAM-SHA-256", "y,,", false},
      {false, "SCRAM-SHA-256", "y,,", true},
      {true, "SCRAM-SHA-256", "n,,", true},
      {true, "SCRAM-SHA-256", "p=tls-exporter,,", false},  // p= needs -PLUS
      {true, "SCRAM-SHA-256-PLUS", "n,,", false},
      {true, "SCRAM-SHA-256-PLUS", "y,,", false},
      {true, "SCRAM-SHA-256-PLUS", "p=tls-unique,,", false},  // not this link's type
      {true, "SCRAM-SHA-256-PLUS", "p=tls-exporter,,", true},
  };
  for (const Case& c : cases) {
    Harness h(c.tls ? tls13() : SessionOptions{});
    Step step = h.send("AUTH " + c.mech + " " + b64(c.gs2 + "n=user,r=abc"));
    if (c.ok) {
      EXPECT_EQ(step.action, Action::scram) << c.mech << " " << c.gs2;
    } else {
      EXPECT_EQ(h.out, refused) << c.mech << " " << c.gs2;
      EXPECT_EQ(h.session.stats().auth_failures, 1u);
    }
  }
}

TEST(SessionScram, YFlagBindingDataIsTheHeaderOnly) {
  Harness h;  // plain link: "y" is fine, and c= is base64("y,,")
  h.send("AUTH SCRAM-SHA-256 " + b64("y,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
  h.lookup_done(pencil());
  const std::string without_proof = "c=eSws,r=rOprNGfwEbeRWgbNEkqO" + server_nonce;
  const std::string auth_message =
      "n=user,r=rOprNGfwEbeRWgbNEkqO," + server_first + "," + without_proof;
  h.send_verified(b64(without_proof + ",p=" + client_proof("pencil", pencil(), auth_message)));
  EXPECT_EQ(h.out.substr(0, 4), "+ dj") << h.out;
}

TEST(SessionScram, TlsStartedForgetsAnExchange) {
  Harness h(SessionOptions{});
  h.send("AUTH SCRAM-SHA-256 " + b64(client_first));
  h.lookup_done(pencil());
  h.session.tls_started(true, {});
  h.send(b64(client_final));
  EXPECT_EQ(h.out, "-ERR Unknown command.\r\n");
}

TEST(SessionScram, RightProofRefusedByAGateGetsNoServerFinal) {
  Harness h;
  h.send("AUTH SCRAM-SHA-256 " + b64(client_first));
  h.lookup_done(pencil());
  Step step = h.send(b64(client_final));
  ASSERT_EQ(step.action, Action::login);
  EXPECT_TRUE(step.credentials.verified);
  // The driver refused it (a blocked address): no "v=", and it counts as a
  // failure exactly like a refused wrong proof, so nothing tells them apart.
  h.out.clear();
  h.session.login_done(LoginOutcome::temp_failure, nullptr, h.out);
  EXPECT_EQ(h.out, "-ERR [SYS/TEMP] Temporary server failure, try again later.\r\n");
  EXPECT_EQ(h.session.stats().auth_failures, 1u);
  EXPECT_EQ(h.send("").action, Action::none);  // no exchange left to acknowledge
  EXPECT_EQ(h.out, "-ERR Unknown command.\r\n");
}

TEST(SessionScram, WrongProofRefusedByAGateCountsAsAFailure) {
  std::string auth_message = client_first.substr(3) + "," + server_first + "," +
                             "c=biws,r=rOprNGfwEbeRWgbNEkqO" + server_nonce;
  std::string bad = "c=biws,r=rOprNGfwEbeRWgbNEkqO" + server_nonce +
                    ",p=" + client_proof("pencil2", pencil(), auth_message);
  Harness h;
  for (int i = 1; i <= 3; ++i) {
    h.send("AUTH SCRAM-SHA-256 " + b64(client_first));
    h.lookup_done(pencil());
    Step step = h.send(b64(bad));
    ASSERT_EQ(step.action, Action::login);
    EXPECT_FALSE(step.credentials.verified);
    h.out.clear();
    step = h.session.login_done(LoginOutcome::temp_failure, nullptr, h.out);
    EXPECT_EQ(h.session.stats().auth_failures, static_cast<std::uint64_t>(i));
    if (i < 3) {
      EXPECT_EQ(step.action, Action::none);
      EXPECT_EQ(h.out, "-ERR [SYS/TEMP] Temporary server failure, try again later.\r\n");
    } else {
      EXPECT_EQ(step.action, Action::close);
      EXPECT_EQ(h.out, "-ERR [AUTH] Authentication failed, too many attempts.\r\n");
    }
  }
}

TEST(SessionScram, CancelledExchangesCountAsBadCommands) {
  // One connection must not get a SCRAM lookup (a key derivation for an
  // unknown user) per "AUTH SCRAM-SHA-256 <first>" / "*" pair for ever.
  Harness h;
  for (int i = 1; i <= popbox::limits::max_bad_commands; ++i) {
    ASSERT_EQ(h.send("AUTH SCRAM-SHA-256 " + b64(client_first)).action, Action::scram);
    h.lookup_done(pencil());
    Step step = h.send("*");
    EXPECT_EQ(h.session.stats().bad_commands, static_cast<std::uint64_t>(i));
    if (i < popbox::limits::max_bad_commands) {
      EXPECT_EQ(step.action, Action::none);
      EXPECT_EQ(h.out, "-ERR Authentication cancelled.\r\n");
    } else {
      EXPECT_EQ(step.action, Action::close);
      EXPECT_EQ(h.out, "-ERR Too many bad commands, closing.\r\n");
    }
  }
}
