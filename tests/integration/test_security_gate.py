"""The login gates (failed-login penalty, blocks, auth tickets, limits)
hold for every way of logging in: SCRAM gets no answer a password would
not get, PROXY headers without addresses are not trusted as loopback, and
a connection that failed too often is closed."""

import base64
import json
import os
import re
import socket
import ssl
import subprocess
import time
import unittest

from harness import POPBOX, Env, LineClient, run_tests
from test_security_oauth import Keys
from test_security_scram import b64, client_final

TIMEOUT = 20
TEMP = b"-ERR [SYS/TEMP] Temporary server failure, try again later."


def connect(port, source):
    """A POP3 connection to the server from the loopback address `source`."""
    return LineClient(port, source=source, timeout=TIMEOUT)


def scram_timed(conn, user, password):
    """A SCRAM-SHA-256 exchange; returns (replies, seconds the client-final
    message waited for its answer). Stops at the first refusal."""
    nonce = b64(os.urandom(18))
    bare = f"n={user},r={nonce}"
    r = conn.cmd(f"AUTH SCRAM-SHA-256 {b64('n,,' + bare)}")
    if not r.startswith(b"+ "):
        return [r], 0.0
    final, _, _ = client_final(bare, base64.b64decode(r[2:]).decode(), password)
    start = time.monotonic()
    r2 = conn.cmd(final)
    waited = time.monotonic() - start
    if not r2.startswith(b"+ "):
        return [r, r2], waited
    return [r, r2, conn.cmd("")], waited


class ScramGateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = Env(users={"alice": "alice-secret", "bob": "bob-secret"},
                      failure_delay="400ms",
                      extra_sections="[limits]\nauth_failures_per_ip = 2\n")
        cls.env.deliver("alice", b"Subject: hi\n\nhello\n")
        cls.server = cls.env.start()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def fail_password(self, conn):
        self.assertEqual(conn.cmd("USER bob"), b"+OK")
        self.assertEqual(conn.cmd("PASS wrong"), b"-ERR [AUTH] Authentication failed.")

    def test_right_proof_is_confirmed_only_after_the_penalty_wait(self):
        c = connect(self.server.pop3, "127.0.0.21")
        self.fail_password(c)
        replies, waited = scram_timed(c, "alice", "alice-secret")
        self.assertTrue(replies[1].startswith(b"+ "), replies)  # the server-final message
        self.assertEqual(replies[2], b"+OK Logged in, 1 messages (22 octets).")
        # One failure from this address: the server signature, which tells the
        # client the password is right, waits as a correct password does.
        self.assertGreaterEqual(waited, 0.35)
        c.cmd("QUIT")
        c.close()

    def test_blocked_address_gets_no_scram_exchange(self):
        c = connect(self.server.pop3, "127.0.0.22")
        self.fail_password(c)
        self.fail_password(c)
        c.close()
        c = connect(self.server.pop3, "127.0.0.22")
        # Blocked: refused before any lookup, no server-first, no proof check.
        replies, _ = scram_timed(c, "alice", "alice-secret")
        self.assertEqual(replies, [TEMP])
        replies, _ = scram_timed(c, "alice", "wrong")
        self.assertEqual(replies, [TEMP])
        c.close()

    def test_proofs_sent_after_the_block_cannot_tell_right_from_wrong(self):
        # Server-first messages fetched before the address is blocked; the
        # proofs sent afterwards get one and the same answer, right or wrong,
        # and each counts as a failure (the third closes the connection).
        conns = [connect(self.server.pop3, "127.0.0.24") for _ in range(3)]
        finals = []
        for c, password in zip(conns, ("wrong", "alice-secret", "wrong")):
            nonce = b64(os.urandom(18))
            bare = f"n=alice,r={nonce}"
            r = c.cmd(f"AUTH SCRAM-SHA-256 {b64('n,,' + bare)}")
            self.assertTrue(r.startswith(b"+ "), r)
            finals.append(client_final(bare, base64.b64decode(r[2:]).decode(), password)[0])
        blocker = connect(self.server.pop3, "127.0.0.24")
        self.fail_password(blocker)
        self.fail_password(blocker)
        blocker.close()
        answers = [c.cmd(final) for c, final in zip(conns, finals)]
        self.assertEqual(answers, [TEMP, TEMP, TEMP])
        for c in conns:
            c.close()

    def test_pipelined_cancelled_exchanges_end_the_connection(self):
        c = connect(self.server.pop3, "127.0.0.23")
        first = b64("n,,n=nobody,r=" + b64(os.urandom(18)))
        c.sock.sendall(f"AUTH SCRAM-SHA-256 {first}\r\n*\r\n".encode() * 10)
        replies = []
        try:
            while len(replies) < 200:
                replies.append(c.line())
        except EOFError:
            pass
        # Ten cancelled exchanges are ten bad commands: then the server closes.
        cancels = [r for r in replies if r == b"-ERR Authentication cancelled."]
        self.assertEqual(len(cancels), 9, replies)
        self.assertEqual(replies[-1], b"-ERR Too many bad commands, closing.")
        c.close()


V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


class ProxyWithoutAddressTest(unittest.TestCase):
    """With haproxy on the same host, a client it cannot name must not pass
    for a loopback client (plaintext allowed); only v2 LOCAL (health checks,
    the proxy's own connection) keeps the proxy's address as is."""

    @classmethod
    def setUpClass(cls):
        cls.env = Env(extra_server='trusted_proxies = ["127.0.0.1/32"]\n')
        cls.server = cls.env.start()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def user_after(self, header):
        s = socket.create_connection(("127.0.0.1", self.server.pop3), timeout=TIMEOUT)
        s.sendall(header)
        c = LineClient(sock=s)
        self.assertTrue(c.greeting.startswith(b"+OK"), c.greeting)
        r = c.cmd("USER alice")
        c.close()
        return r

    def test_headers_without_a_client_address_are_not_loopback(self):
        refused = (b"-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) "
                   b"connections.")
        for name, header in (
                ("v1 UNKNOWN", b"PROXY UNKNOWN\r\n"),
                ("v2 PROXY AF_UNSPEC", V2_SIG + bytes([0x21, 0x00, 0x00, 0x00])),
                ("v2 PROXY AF_UNIX", V2_SIG + bytes([0x21, 0x31, 0x00, 216]) + bytes(216))):
            self.assertEqual(self.user_after(header), refused, name)
        self.assertIn("client=unknown", self.server.log_text())

    def test_v2_local_keeps_the_proxy_address(self):
        self.assertEqual(self.user_after(V2_SIG + bytes([0x20, 0x00, 0x00, 0x00])), b"+OK")


def fake_salt(env, user="nobody-here"):
    """Starts the server of `env`, returns the salt it gives `user`, stops it."""
    server = env.start()
    try:
        c = connect(server.pop3, "127.0.0.1")
        r = c.cmd(f"AUTH SCRAM-SHA-256 {b64('n,,n=' + user + ',r=' + b64(os.urandom(18)))}")
        c.close()
        assert r.startswith(b"+ "), r
        return re.search(r",s=([^,]+),", base64.b64decode(r[2:]).decode()).group(1)
    finally:
        server.stop()
        env.server = None


class FakeSaltTest(unittest.TestCase):
    """An unknown user's made-up SCRAM salt must not change when the server
    restarts (a real user's does not), or it tells who exists."""

    def test_salt_is_the_same_after_a_restart_with_tls(self):
        env = Env()
        try:
            first, second = fake_salt(env), fake_salt(env)
            self.assertEqual(first, second)
            self.assertNotEqual(first, fake_salt(env, "someone-else"))
        finally:
            env.close()

    def test_salt_is_the_same_after_a_restart_with_a_secret_file(self):
        env = Env(tls=False)
        secret = os.path.join(env.dir, "scram.secret")
        with open(secret, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(secret, 0o600)
        with open(env.config) as f:
            text = f.read()
        with open(env.config, "w") as f:
            f.write(text.replace("[auth]\n", f'[auth]\nscram_fake_secret_file = "{secret}"\n'))
        try:
            self.assertEqual(fake_salt(env), fake_salt(env))
            p = subprocess.run([POPBOX, "check", "--config", env.config], capture_output=True,
                               text=True, timeout=TIMEOUT)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertNotIn("scram", p.stderr.lower())
        finally:
            env.close()

    def test_check_warns_without_tls_or_secret_file(self):
        env = Env(tls=False)
        try:
            p = subprocess.run([POPBOX, "check", "--config", env.config], capture_output=True,
                               text=True, timeout=TIMEOUT)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("warning: no [auth] scram_fake_secret_file and no [tls] key: made-up "
                          "SCRAM salts of unknown users change at every restart", p.stderr)
        finally:
            env.close()


class CloseAfterFailuresTest(unittest.TestCase):
    """The third failed login of a connection ends it at once."""

    @classmethod
    def setUpClass(cls):
        cls.env = Env(users={"alice": "alice-secret"}, failure_delay="10ms")
        cls.server = cls.env.start()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def assert_closed(self, c):
        c.sock.settimeout(5)
        self.assertEqual(c.buf, b"")
        self.assertEqual(c.sock.recv(100), b"")  # closed, nothing else sent
        c.close()

    def test_three_wrong_passwords_close_the_connection(self):
        c = connect(self.server.pop3, "127.0.0.31")
        for i in range(3):
            self.assertEqual(c.cmd("USER alice"), b"+OK")
            expected = (b"-ERR [AUTH] Authentication failed." if i < 2 else
                        b"-ERR [AUTH] Authentication failed, too many attempts.")
            self.assertEqual(c.cmd("PASS wrong"), expected)
        self.assert_closed(c)

    def test_three_wrong_scram_proofs_close_the_connection(self):
        c = connect(self.server.pop3, "127.0.0.32")
        for i in range(3):
            replies, _ = scram_timed(c, "alice", "wrong")
            expected = (b"-ERR [AUTH] Authentication failed." if i < 2 else
                        b"-ERR [AUTH] Authentication failed, too many attempts.")
            self.assertEqual(replies[-1], expected)
        self.assert_closed(c)


SSL_OP_NO_EXTENDED_MASTER_SECRET = 1 << 0  # OpenSSL 3 ssl.h


class TlsUniqueTest(unittest.TestCase):
    """tls-unique is only unique with the extended master secret (RFC 7627):
    without it, a TLS 1.2 link gets no SCRAM-SHA-256-PLUS."""

    @classmethod
    def setUpClass(cls):
        cls.env = Env()
        cls.server = cls.env.start()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def sasl_line(self, ems):
        ctx = ssl.create_default_context(cafile=self.env.cert)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        if not ems:
            ctx.options |= SSL_OP_NO_EXTENDED_MASTER_SECRET
        raw = socket.create_connection(("127.0.0.1", self.server.pop3s), timeout=TIMEOUT)
        c = LineClient(sock=ctx.wrap_socket(raw, server_hostname="pop.test"))
        self.assertEqual(c.cmd("CAPA"), b"+OK Capability list follows")
        sasl = [l for l in c.multiline() if l.startswith(b"SASL ")]
        plus = c.cmd("AUTH SCRAM-SHA-256-PLUS")
        c.close()
        return sasl, plus

    def test_plus_needs_the_extended_master_secret_on_tls12(self):
        sasl, plus = self.sasl_line(ems=True)
        self.assertEqual(sasl, [b"SASL PLAIN LOGIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS"])
        self.assertEqual(plus, b"+ ")
        sasl, plus = self.sasl_line(ems=False)
        self.assertEqual(sasl, [b"SASL PLAIN LOGIN SCRAM-SHA-256"])
        self.assertEqual(plus, b"-ERR Unsupported authentication mechanism.")


class CheckOAuthKeysTest(unittest.TestCase):
    """`popbox check` (run as root) must say when the dropped [server] user
    cannot read the OAuth keys that SIGHUP re-reads."""

    def test_unreadable_public_key_and_jwks_are_reported(self):
        env = Env()
        try:
            keys = Keys(env.dir)
            pem = keys.ec_pub
            jwks = os.path.join(env.dir, "jwks.json")
            with open(jwks, "w") as f:
                json.dump(keys.jwks(), f)
            env.chown()
            with open(env.config) as f:
                base = f.read()
            for what, path, line in (("public key", pem, f'public_keys = ["{pem}"]'),
                                     ("jwks_file", jwks, f'jwks_file = "{jwks}"')):
                with open(env.config, "w") as f:
                    f.write(base + '[auth.oauth]\nissuer = "https://idp.test"\n'
                            f'audience = "pop3"\n{line}\n')
                run = lambda: subprocess.run([POPBOX, "check", "--config", env.config],
                                             capture_output=True, text=True, timeout=TIMEOUT)
                p = run()
                self.assertEqual(p.returncode, 0, p.stderr)
                os.chown(path, 0, 0)
                os.chmod(path, 0o600)
                p = run()
                self.assertEqual(p.returncode, 78, p.stderr)  # EX_CONFIG
                self.assertIn(f"[server] user popboxtest cannot read the [auth.oauth] {what} "
                              f"{path} (SIGHUP re-reads it)", p.stderr)
        finally:
            env.close()


if __name__ == "__main__":
    run_tests()
