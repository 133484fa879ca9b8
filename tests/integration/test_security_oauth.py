"""OAUTHBEARER (RFC 7628) and XOAUTH2 against `popbox serve` with JWT
access tokens validated locally ([auth.oauth]). Keys come from
`openssl genpkey`, tokens are signed with `openssl dgst -sign` (ES256's DER
signature converted to r||s here), and real clients log in with them:
`popbox fetch` and `curl --oauth2-bearer`."""

import base64
import json
import os
import shutil
import signal
import subprocess
import time
import unittest

import fetch_helpers
from harness import MESSAGES, POPBOX, Env, LineClient, run_tests, wire_form

ISSUER = "https://idp.example.com"
ALICE = "alice@example.com"
BOB = "bob@example.com"
CHALLENGE = (b"+ " + base64.b64encode(
    b'{"status":"invalid_token","schemes":"bearer","scope":"pop3"}'))
FAILED = b"-ERR [AUTH] Authentication failed."


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True,
                          check=True).stdout


def der_to_raw(der: bytes) -> bytes:
    """ECDSA-Sig-Value (SEQUENCE of two INTEGERs) to JWS r||s."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        out += der[i + 2:i + 2 + n].lstrip(b"\x00").rjust(32, b"\x00")
        i += 2 + n
    return out


class Keys:
    """An RSA and an EC P-256 key pair, their PEM public keys and a JWKS."""

    def __init__(self, directory, tag=""):
        self.rsa = os.path.join(directory, f"rsa{tag}.key")
        self.ec = os.path.join(directory, f"ec{tag}.key")
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", self.rsa)
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", self.ec)
        self.rsa_pub = self.rsa + ".pub"
        self.ec_pub = self.ec + ".pub"
        openssl("pkey", "-in", self.rsa, "-pubout", "-out", self.rsa_pub)
        openssl("pkey", "-in", self.ec, "-pubout", "-out", self.ec_pub)

    def jwks(self, rsa_kid="rsa-1", ec_kid="ec-1"):
        modulus = openssl("rsa", "-pubin", "-in", self.rsa_pub, "-modulus", "-noout")
        n = bytes.fromhex(modulus.decode().strip().split("=", 1)[1])
        point = openssl("pkey", "-pubin", "-in", self.ec_pub, "-outform", "DER")[-65:]
        assert point[0] == 4
        return {"keys": [
            {"kty": "RSA", "kid": rsa_kid, "use": "sig", "alg": "RS256",
             "n": b64url(n), "e": "AQAB"},
            {"kty": "EC", "kid": ec_kid, "crv": "P-256",
             "x": b64url(point[1:33]), "y": b64url(point[33:])},
        ]}

    def token(self, alg="RS256", kid=None, header=None, sign_with=None, **claims):
        body = {"iss": ISSUER, "aud": "pop3", "email": ALICE,
                "exp": int(time.time()) + 600}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        head = header or {"alg": alg, "typ": "JWT"}
        if kid:
            head["kid"] = kid
        signing_input = (b64url(json.dumps(head).encode()) + "." +
                         b64url(json.dumps(body).encode())).encode()
        if head["alg"] == "none":
            return signing_input.decode() + "."
        key = sign_with or (self.ec if head["alg"] == "ES256" else self.rsa)
        sig = openssl("dgst", "-sha256", "-sign", key, data=signing_input)
        if head["alg"] == "ES256":
            sig = der_to_raw(sig)
        return signing_input.decode() + "." + b64url(sig)


def oauthbearer(user, token):
    return base64.b64encode(
        f"n,a={user},\x01host=127.0.0.1\x01port=110\x01auth=Bearer {token}\x01\x01".encode())


def xoauth2(user, token):
    return base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode())


class Conn(LineClient):
    def __init__(self, port):
        super().__init__(port, timeout=10)

    def cmd_multiline(self, data):
        """Sends `data`; the status line and the lines of the reply."""
        return self.cmd(data), self.multiline()


class OAuthBase(unittest.TestCase):
    key_config = "pem"

    # A server per test: the failed-login penalty (per address and user
    # name) of one test must not slow down the next.
    def setUp(self):
        self.env = Env(users={ALICE: "alice-pw", BOB: "bob-pw"}, failure_delay="5ms")
        self.keys = Keys(self.env.dir)
        if self.key_config == "pem":
            where = f'public_keys = ["{self.keys.rsa_pub}", "{self.keys.ec_pub}"]\n'
        else:
            self.jwks_path = os.path.join(self.env.dir, "jwks.json")
            with open(self.jwks_path, "w") as f:
                json.dump(self.keys.jwks(), f)
            where = f'jwks_file = "{self.jwks_path}"\n'
        with open(self.env.config, "a") as f:
            f.write(f'[auth.oauth]\nissuer = "{ISSUER}"\naudience = "pop3"\n{where}'
                    'user_claim = "email"\n')
        self.message = MESSAGES["dots"]
        self.env.deliver(ALICE, self.message)
        self.server = self.env.start()

    def tearDown(self):
        self.env.close()

    def login_ok(self, command):
        c = Conn(self.server.pop3)
        reply = c.cmd(command)
        self.assertEqual(
            reply, f"+OK Logged in, 1 messages ({len(wire_form(self.message))} octets).".encode())
        c.cmd("QUIT")
        c.close()

    def refused(self, user, token, mech="OAUTHBEARER"):
        """The exact RFC 7628 failure: JSON challenge, client's ^A, -ERR [AUTH]."""
        c = Conn(self.server.pop3)
        encode = oauthbearer if mech == "OAUTHBEARER" else xoauth2
        self.assertEqual(c.cmd(f"AUTH {mech} " + encode(user, token).decode()), CHALLENGE)
        self.assertEqual(c.cmd("AQ==" if mech == "OAUTHBEARER" else ""), FAILED)
        self.assertEqual(c.cmd("STAT"), b"-ERR Unknown command.")  # still not logged in
        c.close()


class PemKeysTest(OAuthBase):
    def test_popbox_check_accepts_the_keys(self):
        r = subprocess.run([POPBOX, "check", "--config", self.env.config], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_capa_lists_the_mechanisms(self):
        c = Conn(self.server.pop3)
        first, lines = c.cmd_multiline("CAPA")
        self.assertIn(b"SASL PLAIN LOGIN OAUTHBEARER XOAUTH2 SCRAM-SHA-256", lines)
        first, lines = c.cmd_multiline("AUTH")
        self.assertEqual(lines, [b"PLAIN", b"LOGIN", b"OAUTHBEARER", b"XOAUTH2", b"SCRAM-SHA-256"])
        c.close()

    def test_oauthbearer_rs256_and_es256(self):
        self.login_ok("AUTH OAUTHBEARER " + oauthbearer(ALICE, self.keys.token()).decode())
        # Two steps (no initial response), ES256, and the user typed in
        # another case (username_format %Lu).
        c = Conn(self.server.pop3)
        self.assertEqual(c.cmd("AUTH OAUTHBEARER"), b"+ ")
        reply = c.cmd(oauthbearer("Alice@Example.COM", self.keys.token("ES256")))
        self.assertTrue(reply.startswith(b"+OK Logged in, 1 messages"), reply)
        c.close()

    def test_xoauth2(self):
        self.login_ok("AUTH XOAUTH2 " + xoauth2(ALICE, self.keys.token()).decode())
        self.refused(ALICE, self.keys.token(aud="imap"), mech="XOAUTH2")

    def test_refusals_have_the_exact_rfc7628_bytes(self):
        k = self.keys
        now = int(time.time())
        cases = {  # token, and why the log says it failed
            "expired": (k.token(exp=now - 120), "token expired"),
            "not yet valid": (k.token(nbf=now + 600), "token not yet valid (nbf)"),
            "wrong audience": (k.token(aud="imap"), "token audience (aud) does not contain"),
            "wrong issuer": (k.token(iss="https://evil.example.com"), "token issuer (iss)"),
            "wrong user": (k.token(email=BOB), "token names another user"),
            "no expiry": (k.token(exp=None), "token has no expiry (exp)"),
            "bad signature": (self.corrupt_signature(k.token()), "token signature does not verify"),
            "alg none": (k.token(alg="none"), "token algorithm not accepted"),
            "HS256": (self.hs256_with_public_key(), "token algorithm not accepted"),
            "signed by another key": (k.token(sign_with=self.other_key()),
                                      "token signature does not verify"),
        }
        for name, (token, why) in cases.items():
            with self.subTest(name):
                self.refused(ALICE, token)
                logins = [line for line in self.server.log_text().splitlines()
                          if "event=login" in line]
                self.assertIn(f'result=bad_credentials detail="{why}', logins[-1])
        log = self.server.log_text()
        for token, _ in cases.values():
            self.assertNotIn(token, log)  # tokens are never logged

    @staticmethod
    def corrupt_signature(token):
        i = len(token) - 10  # inside the signature, away from its last partial byte
        return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]

    def hs256_with_public_key(self):
        import hashlib
        import hmac
        head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = b64url(json.dumps({"iss": ISSUER, "aud": "pop3", "email": ALICE,
                                  "exp": int(time.time()) + 600}).encode())
        with open(self.keys.rsa_pub, "rb") as f:
            secret = f.read()
        mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{b64url(mac)}"

    def other_key(self):
        path = os.path.join(self.env.dir, "other.key")
        if not os.path.exists(path):
            openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", path)
        return path

    def test_token_for_a_user_without_mailbox_entry_fails(self):
        self.refused("carol@example.com", self.keys.token(email="carol@example.com"))

    def test_three_failures_close_the_connection(self):
        c = Conn(self.server.pop3)
        bad = oauthbearer(ALICE, self.keys.token(aud="imap")).decode()
        for _ in range(2):
            self.assertEqual(c.cmd("AUTH OAUTHBEARER " + bad), CHALLENGE)
            self.assertEqual(c.cmd("*"), FAILED)  # cancelling still counts
        self.assertEqual(c.cmd("AUTH OAUTHBEARER " + bad), CHALLENGE)
        self.assertEqual(c.cmd("AQ=="), b"-ERR [AUTH] Authentication failed, too many attempts.")
        self.assertEqual(c.sock.recv(100), b"")
        c.close()

    def test_popbox_fetch_oauthbearer_and_xoauth2(self):
        for mech in ("oauthbearer", "xoauth2"):
            with self.subTest(mech):
                token_file = os.path.join(self.env.dir, f"token-{mech}")
                with open(token_file, "w") as f:
                    f.write(self.keys.token() + "\n")
                a = fetch_helpers.account(self.env, name=mech, user=ALICE, mode="none",
                                          password=None, auth=mech,
                                          password_command=f"cat {token_file}")
                cfg = fetch_helpers.write_config(
                    os.path.join(self.env.dir, f"fetch-{mech}.toml"), a)
                r = fetch_helpers.run_fetch(cfg)
                self.assertEqual(r.returncode, 0, r.stderr)
                got = fetch_helpers.maildir_files(os.path.join(self.env.dir, "out-" + mech))
                self.assertEqual(got, [fetch_helpers.local_form(self.message)])

    def test_popbox_fetch_reports_the_servers_json(self):
        token_file = os.path.join(self.env.dir, "token-bad")
        with open(token_file, "w") as f:
            f.write(self.keys.token(aud="imap") + "\n")
        a = fetch_helpers.account(self.env, name="bad", user=ALICE, mode="none", password=None,
                                  auth="oauthbearer", password_command=f"cat {token_file}")
        cfg = fetch_helpers.write_config(os.path.join(self.env.dir, "fetch-bad.toml"), a)
        r = fetch_helpers.run_fetch(cfg)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('"status":"invalid_token"', r.stderr)

    @unittest.skipUnless(shutil.which("curl"), "curl is not installed")
    def test_curl_oauth2_bearer_retrieves_byte_exact(self):
        p = subprocess.run(
            ["curl", "--silent", "--show-error", "--max-time", "20", "--user", ALICE + ":",
             "--oauth2-bearer", self.keys.token("ES256"),
             f"pop3://127.0.0.1:{self.server.pop3}/1"], capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, wire_form(self.message))


class JwksTest(OAuthBase):
    key_config = "jwks"

    def test_keys_matched_by_kid(self):
        k = self.keys
        self.login_ok("AUTH OAUTHBEARER " + oauthbearer(ALICE, k.token(kid="rsa-1")).decode())
        self.login_ok("AUTH OAUTHBEARER " +
                      oauthbearer(ALICE, k.token("ES256", kid="ec-1")).decode())
        self.login_ok("AUTH XOAUTH2 " + xoauth2(ALICE, k.token("ES256")).decode())  # no kid
        self.refused(ALICE, k.token(kid="rsa-2"))
        self.refused(ALICE, k.token(kid="ec-1"))  # an RSA token naming the EC key
        self.refused(ALICE, k.token(alg="none", kid="rsa-1"))

    def test_sighup_reloads_the_keys(self):
        new = Keys(self.env.dir, tag="-new")
        token = new.token(kid="rsa-9")
        self.refused(ALICE, token)
        with open(self.jwks_path, "w") as f:
            json.dump(new.jwks(rsa_kid="rsa-9"), f)
        self.server.kill(signal.SIGHUP)
        deadline = time.time() + 10
        while "what=oauth_keys result=ok" not in self.server.log_text():
            self.assertLess(time.time(), deadline, self.server.log_text())
            time.sleep(0.05)
        self.login_ok("AUTH OAUTHBEARER " + oauthbearer(ALICE, token).decode())
        # A broken file on the next reload keeps the keys that work.
        with open(self.jwks_path, "w") as f:
            f.write("{not json")
        self.server.kill(signal.SIGHUP)
        deadline = time.time() + 10
        while "what=oauth_keys result=failed" not in self.server.log_text():
            self.assertLess(time.time(), deadline, self.server.log_text())
            time.sleep(0.05)
        self.assertIn(self.jwks_path, self.server.log_text())
        self.login_ok("AUTH OAUTHBEARER " + oauthbearer(ALICE, token).decode())
        with open(self.jwks_path, "w") as f:
            json.dump(self.keys.jwks(), f)


class PolicyTest(unittest.TestCase):
    def test_not_offered_where_plaintext_is_refused(self):
        env = Env(users={ALICE: "pw"}, allow_plaintext="never")
        try:
            keys = Keys(env.dir)
            with open(env.config, "a") as f:
                f.write(f'[auth.oauth]\nissuer = "{ISSUER}"\naudience = "pop3"\n'
                        f'public_keys = ["{keys.rsa_pub}"]\n')
            srv = env.start()
            c = Conn(srv.pop3)
            first, lines = c.cmd_multiline("CAPA")
            self.assertNotIn(b"OAUTHBEARER", b" ".join(lines))
            self.assertTrue(c.cmd("AUTH OAUTHBEARER " + oauthbearer(ALICE, keys.token()).decode())
                            .startswith(b"-ERR [AUTH] Plaintext authentication disallowed"))
            c.close()
        finally:
            env.close()

    def test_bad_key_file_is_a_config_error_naming_it(self):
        env = Env(users={ALICE: "pw"})
        try:
            bad = os.path.join(env.dir, "idp.pem")
            with open(bad, "w") as f:
                f.write("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n")
            with open(env.config, "a") as f:
                f.write(f'[auth.oauth]\nissuer = "{ISSUER}"\naudience = "pop3"\n'
                        f'public_keys = ["{bad}"]\n')
            r = subprocess.run([POPBOX, "check", "--config", env.config], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 78, r.stderr)  # EX_CONFIG
            self.assertIn(f"[auth.oauth]: {bad}: PEM block 1 is not a valid PUBLIC KEY", r.stderr)
            r = subprocess.run([POPBOX, "serve", "--config", env.config], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 78, r.stderr)
            self.assertIn(f"popbox: [auth.oauth]: {bad}: PEM block 1", r.stderr)
        finally:
            env.close()


if __name__ == "__main__":
    run_tests()
