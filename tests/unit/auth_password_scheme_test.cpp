// Stored-password checks against Dovecot's own output (tests/data/auth/vectors.txt).

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "auth/password_scheme.hpp"

namespace popbox::auth {
namespace {

struct Vector {
  std::string scheme, password, stored;
  int line = 0;
};

std::vector<Vector> load_vectors() {
  std::ifstream in(POPBOX_TEST_DATA "/auth/vectors.txt");
  EXPECT_TRUE(in) << "cannot open vectors.txt";
  std::vector<Vector> out;
  std::string line;
  int no = 0;
  while (std::getline(in, line)) {
    ++no;
    if (line.empty() || line[0] == '#') continue;
    const auto t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
    EXPECT_NE(t2, std::string::npos) << "vectors.txt:" << no;
    if (t2 == std::string::npos) continue;
    out.push_back({line.substr(0, t1), line.substr(t1 + 1, t2 - t1 - 1), line.substr(t2 + 1), no});
  }
  return out;
}

const std::vector<Vector>& vectors() {
  static const std::vector<Vector> v = load_vectors();
  return v;
}

TEST(PasswordScheme, VectorFileCoversEverySchemeRequired) {
  std::set<std::string> seen;
  for (const Vector& v : vectors()) seen.insert(v.scheme);
  for (const char* s : {"PLAIN", "CLEAR", "CLEARTEXT", "CRYPT", "MD5-CRYPT", "SHA256-CRYPT",
                        "SHA512-CRYPT", "BLF-CRYPT", "ARGON2I", "ARGON2ID", "SSHA", "SSHA256",
                        "SSHA512", "SHA", "SHA256", "SHA512", "PLAIN-MD5", "MD5"}) {
    EXPECT_TRUE(seen.count(s)) << s;
  }
  EXPECT_GE(vectors().size(), 90u);
}

TEST(PasswordScheme, EveryVectorVerifies) {
  for (const Vector& v : vectors()) {
    EXPECT_TRUE(verify_password(v.stored, v.password))
        << "vectors.txt:" << v.line << " " << v.stored;
  }
}

TEST(PasswordScheme, WrongPasswordsFail) {
  for (const Vector& v : vectors()) {
    // Changes at the front: DES-CRYPT only reads the first 8 bytes.
    for (const std::string& wrong :
         {"X" + v.password, v.password.substr(1), std::string(), std::string("secret\0", 7)}) {
      if (wrong == v.password) continue;
      EXPECT_FALSE(verify_password(v.stored, wrong))
          << "vectors.txt:" << v.line << " '" << wrong << "'";
    }
  }
}

TEST(PasswordScheme, GarbledStoredValuesFailWithoutCrashing) {
  for (const Vector& v : vectors()) {
    const std::string& s = v.stored;
    std::vector<std::string> bad;
    for (std::size_t cut : {s.size() - 1, s.size() / 2, s.find('}') + 1, s.find('}') + 3}) {
      if (cut < s.size()) bad.push_back(s.substr(0, cut));
    }
    std::string flipped = s;
    flipped[s.size() - 3] ^= 0x01;
    bad.push_back(flipped);
    bad.push_back(s + "!");
    bad.push_back(s + "AAAA");
    for (const std::string& b : bad) {
      EXPECT_FALSE(verify_password(b, v.password)) << "vectors.txt:" << v.line << " " << b;
    }
  }
}

TEST(PasswordScheme, NothingMatchesUnusableValues) {
  for (const char* stored :
       {"", "{PLAIN}", "{CRYPT}", "{SHA512-CRYPT}", "{ARGON2ID}", "{NOPE}secret", "{}secret",
        "{PLAIN.rot13}secret", "*", "!", "*0", "{SSHA}AAAA", "{SHA256}notbase64!!", "{MD5}zz",
        "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$", "{BLF-CRYPT}$2y$05$", "$6$"}) {
    EXPECT_FALSE(verify_password(stored, "")) << stored;
    EXPECT_FALSE(verify_password(stored, "secret")) << stored;
    EXPECT_FALSE(verify_password(stored, "*0")) << stored;
  }
}

TEST(PasswordScheme, EmbeddedNulNeverTruncatesThePassword) {
  // crypt(3) takes a C string: "secret\0junk" must not pass as "secret".
  for (const Vector& v : vectors()) {
    if (v.password != "secret") continue;
    EXPECT_FALSE(verify_password(v.stored, std::string("secret\0junk", 11))) << v.stored;
  }
}

TEST(PasswordScheme, SplitScheme) {
  EXPECT_EQ(split_scheme("{sha512-crypt}$6$x").scheme, "SHA512-CRYPT");
  EXPECT_EQ(split_scheme("{sha512-crypt}$6$x").data, "$6$x");
  EXPECT_EQ(split_scheme("$1$ab$cd").scheme, "CRYPT");
  EXPECT_EQ(split_scheme("{PLAIN").scheme, "CRYPT");  // no closing brace: not a prefix
  EXPECT_EQ(split_scheme("{SHA.b64}x").scheme, "SHA.B64");
  EXPECT_TRUE(scheme_supported("ssha512.HEX"));
  EXPECT_TRUE(scheme_supported("Argon2ID"));
  EXPECT_FALSE(scheme_supported("SHA.rot13"));
  EXPECT_TRUE(scheme_supported("SCRAM-SHA-256"));
  EXPECT_FALSE(scheme_supported("SCRAM-SHA-1"));
}

TEST(PasswordScheme, HashPasswordRoundTrip) {
  for (const std::string pw : {"secret", "pässwörd€ 日本", "a:b c", ""}) {
    const std::string h = hash_password(pw);
    EXPECT_TRUE(h.starts_with("{ARGON2ID}$argon2id$v=19$")) << h;
    EXPECT_TRUE(verify_password(h, pw));
    EXPECT_FALSE(verify_password(h, pw + "x"));
  }
  EXPECT_NE(hash_password("secret"), hash_password("secret"));  // salted
}

TEST(PasswordScheme, PlaintextOnlyForClearSchemes) {
  EXPECT_EQ(plaintext_password("{PLAIN}tanstaaf"), "tanstaaf");
  EXPECT_EQ(plaintext_password("{clear}a:b"), "a:b");
  EXPECT_EQ(plaintext_password("{CLEARTEXT}x"), "x");
  EXPECT_EQ(plaintext_password("{PLAIN.b64}c2VjcmV0"), "secret");
  EXPECT_EQ(plaintext_password("{PLAIN}"), std::nullopt);
  EXPECT_EQ(plaintext_password("{SHA}lowEI6l5wn4o6NaNS1B9iXXGBno="), std::nullopt);
  EXPECT_EQ(plaintext_password("tanstaaf"), std::nullopt);  // bare value means CRYPT
}

TEST(PasswordScheme, ApopDigestFromRfc1939) {
  const std::string ts = "<1896.697170952@dbc.mtview.ca.us>";
  EXPECT_TRUE(verify_apop_digest("tanstaaf", ts, "c4c9334bac560ecc979e58001b3e22fb"));
  EXPECT_TRUE(verify_apop_digest("tanstaaf", ts, "C4C9334BAC560ECC979E58001B3E22FB"));
  EXPECT_FALSE(verify_apop_digest("tanstaag", ts, "c4c9334bac560ecc979e58001b3e22fb"));
  EXPECT_FALSE(verify_apop_digest("tanstaaf", ts, "c4c9334bac560ecc979e58001b3e22f"));
  EXPECT_FALSE(verify_apop_digest("tanstaaf", ts, "c4c9334bac560ecc979e58001b3e22fbb"));
  EXPECT_FALSE(verify_apop_digest("tanstaaf", ts, "g4c9334bac560ecc979e58001b3e22fb"));
  EXPECT_FALSE(verify_apop_digest("", ts, "c4c9334bac560ecc979e58001b3e22fb"));
}

TEST(PasswordScheme, CostClassGroupsEqualWork) {
  EXPECT_EQ(cost_class("{SHA512-CRYPT}$6$abc$def"), "crypt:$6$");
  EXPECT_EQ(cost_class("$6$rounds=10000$abc$def"), "crypt:$6$rounds=10000");
  EXPECT_EQ(cost_class("{BLF-CRYPT}$2y$05$abcdefghij"), "crypt:$2y$05$");
  EXPECT_EQ(cost_class("{MD5}$1$ab$cd"), "crypt:$1$");
  EXPECT_EQ(cost_class("{DES-CRYPT}wmMAHXv49pITk"), "crypt:des");
  EXPECT_EQ(cost_class("{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$salt$hash"),
            "argon2:$argon2id$v=19$m=65536,t=3,p=1");
  EXPECT_EQ(cost_class("{SSHA}abcd"), "fast");
  EXPECT_EQ(cost_class("{PLAIN}x"), "fast");
  EXPECT_EQ(cost_class("{NOPE}x"), "unknown");
}

TEST(PasswordScheme, DummyCostsTheSameAndMatchesNothingKnown) {
  for (const Vector& v : vectors()) {
    const std::string d = dummy_hash_like(v.stored);
    const std::string cls = cost_class(v.stored);
    if (cls != "fast" && cls != "unknown" &&
        split_scheme(v.stored).scheme.find('.') == std::string::npos) {
      EXPECT_EQ(cost_class(d), cls) << v.stored << " -> " << d;
    }
    EXPECT_FALSE(verify_password(d, v.password)) << d;
    EXPECT_NE(d, v.stored);
  }
}

}  // namespace
}  // namespace popbox::auth
