"""SASL SCRAM-SHA-256 and SCRAM-SHA-256-PLUS against the real server: a
SCRAM client written here (hashlib/hmac), secrets made by doveadm and by
`popbox user --scheme SCRAM-SHA-256`, channel binding over TLS 1.2
(tls-unique, from Python's ssl) and TLS 1.3 (tls-exporter, from
`openssl s_client -keymatexport`), and mpop (libgsasl) as a real client."""

import base64
import hashlib
import hmac
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import unittest

from harness import POPBOX, Env, LineClient, run_tests

TIMEOUT = 20


def b64(data) -> str:
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def H(key, msg) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def doveadm_scram(password: str) -> str:
    p = subprocess.run(["doveadm", "pw", "-s", "SCRAM-SHA-256", "-p", password],
                       capture_output=True, text=True, timeout=TIMEOUT, check=True)
    return p.stdout.strip()


class SClient:
    """POP3 through `openssl s_client` on TLS 1.3, which prints the
    tls-exporter keying material Python's ssl module cannot give."""

    def __init__(self, port, cafile):
        self.proc = subprocess.Popen(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_3", "-nocommands",
             "-CAfile", cafile, "-keymatexport", "EXPORTER-Channel-Binding",
             "-keymatexportlen", "32"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.timer = threading.Timer(TIMEOUT, self.proc.kill)
        self.timer.start()
        self.exporter = None
        while True:
            raw = self.proc.stdout.readline()
            if not raw:
                raise EOFError("s_client ended before the greeting")
            m = re.match(rb"\s*Keying material: ([0-9A-Fa-f]+)", raw)
            if m:
                self.exporter = bytes.fromhex(m.group(1).decode())
            if raw.startswith(b"+OK"):
                self.greeting = raw.rstrip(b"\r\n")
                break

    def line(self) -> bytes:
        while True:
            raw = self.proc.stdout.readline()
            if not raw:
                raise EOFError("s_client ended")
            # Skip what s_client prints itself (session tickets arrive late).
            if raw.startswith((b"+", b"-ERR", b".")) or raw[:1].isdigit():
                return raw.rstrip(b"\r\n")

    def cmd(self, text: str) -> bytes:
        self.proc.stdin.write(text.encode() + b"\r\n")
        self.proc.stdin.flush()
        return self.line()

    def close(self):
        self.timer.cancel()
        self.proc.kill()
        self.proc.wait()


def client_final(bare, server_first, password, cbind="biws"):
    """The base64 client-final message answering `server_first` (RFC 5802
    section 3), with the salted password and AuthMessage to check the
    server's signature against."""
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = H(salted, b"Client Key")
    without_proof = f"c={cbind},r={attrs['r']}"
    auth_message = f"{bare},{server_first},{without_proof}".encode()
    signature = H(hashlib.sha256(client_key).digest(), auth_message)
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    return b64(f"{without_proof},p={b64(proof)}"), salted, auth_message


def scram(conn, user, password, mech="SCRAM-SHA-256", gs2="n,,", cb_data=b"",
          initial=True):
    """Runs a SCRAM-SHA-256 exchange; returns (final reply, server-first).
    Checks the server's signature whenever the server sends one."""
    nonce = b64(os.urandom(18))
    name = user.replace("=", "=3D").replace(",", "=2C")
    bare = f"n={name},r={nonce}"
    if initial:
        r = conn.cmd(f"AUTH {mech} {b64(gs2 + bare)}")
    else:
        r = conn.cmd(f"AUTH {mech}")
        assert r == b"+ ", r
        r = conn.cmd(b64(gs2 + bare))
    if not r.startswith(b"+ "):
        return r, None
    server_first = base64.b64decode(r[2:]).decode()
    nonce_r = dict(kv.split("=", 1) for kv in server_first.split(","))["r"]
    assert nonce_r.startswith(nonce) and len(nonce_r) > len(nonce), server_first
    final, salted, auth_message = client_final(bare, server_first, password,
                                               b64(gs2.encode() + cb_data))
    r = conn.cmd(final)
    if not r.startswith(b"+ "):
        return r, server_first
    server_final = base64.b64decode(r[2:]).decode()
    expected = "v=" + b64(H(H(salted, b"Server Key"), auth_message))
    assert server_final == expected, (server_final, expected)
    return conn.cmd(""), server_first


class ScramTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Plaintext is refused everywhere but on TLS: SCRAM must work anyway.
        cls.env = Env(users={"alice": "x", "bob": "bob secret"}, allow_plaintext="never")
        env = cls.env
        cls.alice_secret = doveadm_scram("alice-secret")
        with open(env.passwd, "w") as f:
            f.write(f"alice:{cls.alice_secret}::::::\n")
            f.write("bob:{PLAIN}bob secret::::::\n")
        for user, scheme in (("carol", None), ("dave", "SCRAM-SHA-256")):
            args = [POPBOX, "user", "-f", env.passwd, "add", user, "--password-stdin"]
            if scheme:
                args += ["--scheme", scheme]
            subprocess.run(args, input=f"{user}-pw\n", text=True, check=True, timeout=TIMEOUT)
        for user in ("alice", "bob", "carol", "dave"):
            env.deliver(user, b"Subject: hi\n\nhello\n")
        cls.server = env.start()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def plain(self):
        return LineClient(self.server.pop3, timeout=TIMEOUT)

    def pop3s(self, max_version=None, ctx=None, session=None):
        if ctx is None:
            ctx = ssl.create_default_context(cafile=self.env.cert)
            if max_version:
                ctx.maximum_version = max_version
        raw = socket.create_connection(("127.0.0.1", self.server.pop3s), timeout=TIMEOUT)
        return LineClient(sock=ctx.wrap_socket(raw, server_hostname="pop.test", session=session))

    def assert_logged_in(self, conn, reply):
        self.assertEqual(reply, b"+OK Logged in, 1 messages (22 octets).")
        self.assertEqual(conn.cmd("STAT"), b"+OK 1 22")
        self.assertEqual(conn.cmd("QUIT"), b"+OK Logging out.")

    def test_capa_lists_only_mechanisms_usable_on_the_link(self):
        c = self.plain()
        self.assertEqual(c.cmd("CAPA"), b"+OK Capability list follows")
        caps = c.multiline()
        self.assertIn(b"SASL SCRAM-SHA-256", caps)  # no PLAIN/LOGIN, no -PLUS
        self.assertNotIn(b"USER", caps)
        self.assertEqual(c.cmd("AUTH PLAIN AGFsaWNlAHg="),
                         b"-ERR [AUTH] Plaintext authentication disallowed on non-secure "
                         b"(SSL/TLS) connections.")
        self.assertEqual(c.cmd("AUTH SCRAM-SHA-256-PLUS"),
                         b"-ERR Unsupported authentication mechanism.")
        self.assertEqual(c.cmd("STLS"), b"+OK Begin TLS negotiation now.")
        ctx = ssl.create_default_context(cafile=self.env.cert)
        t = ctx.wrap_socket(c.sock, server_hostname="pop.test")
        t.sendall(b"CAPA\r\n")
        tls = LineClient(sock=t, greeting=False)
        self.assertEqual(tls.line(), b"+OK Capability list follows")
        self.assertIn(b"SASL PLAIN LOGIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS", tls.multiline())
        tls.close()
        s = self.pop3s()
        s.cmd("CAPA")
        self.assertIn(b"SASL PLAIN LOGIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS", s.multiline())
        s.close()

    def test_doveadm_secret_over_plain_loopback(self):
        for initial in (True, False):
            c = self.plain()
            reply, _ = scram(c, "alice", "alice-secret", initial=initial)
            self.assert_logged_in(c, reply)
            c.close()

    def test_doveadm_secret_over_pop3s(self):
        c = self.pop3s()
        reply, _ = scram(c, "alice", "alice-secret")
        self.assert_logged_in(c, reply)
        c.close()

    def test_wrong_password_and_unknown_user_fail_alike(self):
        c = self.plain()
        reply, alice_first = scram(c, "alice", "wrong")
        self.assertEqual(reply, b"-ERR [AUTH] Authentication failed.")
        reply, first1 = scram(c, "nobody", "wrong")
        self.assertEqual(reply, b"-ERR [AUTH] Authentication failed.")
        c.close()
        c = self.plain()
        reply, first2 = scram(c, "nobody", "wrong")
        self.assertEqual(reply, b"-ERR [AUTH] Authentication failed.")
        c.close()
        salt = lambda first: re.search(r",s=([^,]+),i=(\d+)$", first).groups()
        # A made-up salt that stays the same, with the real users' iterations.
        self.assertEqual(salt(first1), salt(first2))
        self.assertEqual(salt(first1)[1], "4096")
        self.assertEqual(len(base64.b64decode(salt(first1)[0])), 16)
        self.assertEqual(salt(alice_first), (self.alice_secret.split(",")[1], "4096"))

    def test_plain_stored_password_works_other_schemes_do_not(self):
        c = self.plain()
        reply, _ = scram(c, "bob", "bob secret")
        self.assert_logged_in(c, reply)
        c.close()
        c = self.plain()
        reply, _ = scram(c, "carol", "carol-pw")  # Argon2: no SCRAM keys to be had
        self.assertEqual(reply, b"-ERR [AUTH] Authentication failed.")
        c.close()

    def test_popbox_made_secret_verifies_with_doveadm(self):
        line = next(l for l in open(self.env.passwd) if l.startswith("dave:"))
        secret = line.split(":")[1]
        self.assertRegex(secret, r"^\{SCRAM-SHA-256\}4096,[A-Za-z0-9+/]{22}==,"
                                 r"[A-Za-z0-9+/]{43}=,[A-Za-z0-9+/]{43}=$")
        p = subprocess.run(["doveadm", "pw", "-t", secret, "-p", "dave-pw"],
                           capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("(verified)", p.stdout)
        p = subprocess.run(["doveadm", "pw", "-t", secret, "-p", "dave-pw2"],
                           capture_output=True, text=True, timeout=TIMEOUT)
        self.assertNotEqual(p.returncode, 0)
        c = self.plain()
        reply, _ = scram(c, "dave", "dave-pw")
        self.assert_logged_in(c, reply)
        c.close()

    def test_passwd_keeps_the_scram_scheme(self):
        d = os.path.join(self.env.dir, "keep.passwd")
        subprocess.run([POPBOX, "user", "-f", d, "add", "erin", "--scheme", "scram-sha-256",
                        "--password-stdin"], input="one\n", text=True, check=True,
                       timeout=TIMEOUT)
        subprocess.run([POPBOX, "user", "-f", d, "passwd", "erin", "--password-stdin"],
                       input="two\n", text=True, check=True, timeout=TIMEOUT)
        secret = open(d).read().split(":")[1]
        self.assertTrue(secret.startswith("{SCRAM-SHA-256}4096,"), secret)
        p = subprocess.run(["doveadm", "pw", "-t", secret, "-p", "two"], capture_output=True,
                           timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0)
        subprocess.run([POPBOX, "user", "-f", d, "passwd", "erin", "--scheme", "ARGON2ID",
                        "--password-stdin"], input="three\n", text=True, check=True,
                       timeout=TIMEOUT)
        self.assertIn(":{ARGON2ID}$argon2id$", open(d).read())
        p = subprocess.run([POPBOX, "user", "-f", d, "add", "x", "--scheme", "MD5",
                            "--password-stdin"], input="x\n", capture_output=True, text=True,
                           timeout=TIMEOUT)
        self.assertNotEqual(p.returncode, 0)

    def test_plus_with_tls_unique_on_tls12(self):
        c = self.pop3s(ssl.TLSVersion.TLSv1_2)
        cb = c.sock.get_channel_binding("tls-unique")
        self.assertTrue(cb)
        # Binding type of the other TLS version: refused before any lookup.
        reply, _ = scram(c, "alice", "alice-secret", "SCRAM-SHA-256-PLUS", "p=tls-exporter,,", cb)
        self.assertEqual(reply, b"-ERR [AUTH] Channel binding refused.")
        # Binding data of another link (as a man in the middle has): fails.
        reply, _ = scram(c, "alice", "alice-secret", "SCRAM-SHA-256-PLUS", "p=tls-unique,,",
                         bytes(len(cb)))
        self.assertEqual(reply, b"-ERR [AUTH] Authentication failed.")
        reply, _ = scram(c, "alice", "alice-secret", "SCRAM-SHA-256-PLUS", "p=tls-unique,,", cb)
        self.assert_logged_in(c, reply)
        c.close()

    def test_plus_with_tls_unique_on_a_resumed_tls12_session(self):
        # On resumption the server's Finished comes first: tls-unique is that one.
        ctx = ssl.create_default_context(cafile=self.env.cert)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        c = self.pop3s(ctx=ctx)
        session = c.sock.session
        c.cmd("QUIT")
        c.close()
        c = self.pop3s(ctx=ctx, session=session)
        if not c.sock.session_reused:
            c.close()
            self.skipTest("the server did not resume the TLS 1.2 session")
        reply, _ = scram(c, "alice", "alice-secret", "SCRAM-SHA-256-PLUS", "p=tls-unique,,",
                         c.sock.get_channel_binding("tls-unique"))
        self.assert_logged_in(c, reply)
        c.close()

    def test_plus_with_tls_exporter_on_tls13(self):
        c = SClient(self.server.pop3s, self.env.cert)
        try:
            self.assertEqual(len(c.exporter or b""), 32)
            reply, _ = scram(c, "alice", "alice-secret", "SCRAM-SHA-256-PLUS",
                             "p=tls-exporter,,", bytes(32))
            self.assertEqual(reply, b"-ERR [AUTH] Authentication failed.")
            reply, _ = scram(c, "alice", "alice-secret", "SCRAM-SHA-256-PLUS",
                             "p=tls-exporter,,", c.exporter)
            self.assert_logged_in(c, reply)
        finally:
            c.close()

    def test_binding_downgrade_is_refused(self):
        # "y": the client could bind but thinks the server cannot. On TLS,
        # where -PLUS is offered, that means CAPA was tampered with.
        c = self.pop3s()
        reply, _ = scram(c, "alice", "alice-secret", gs2="y,,")
        self.assertEqual(reply, b"-ERR [AUTH] Channel binding refused.")
        c.close()
        c = self.plain()  # no binding offered here: "y" is honest
        reply, _ = scram(c, "alice", "alice-secret", gs2="y,,")
        self.assert_logged_in(c, reply)
        c.close()


@unittest.skipUnless(shutil.which("mpop"), "mpop is not installed (Debian package mpop)")
class MpopScramTest(unittest.TestCase):
    """mpop uses GNU SASL: it must log in with SCRAM-SHA-256 where nothing
    else is allowed (plain TCP, plaintext refused), and over POP3S."""

    @classmethod
    def setUpClass(cls):
        cls.env = Env(users={"alice": "x"}, allow_plaintext="never")
        with open(cls.env.passwd, "w") as f:
            f.write(f"alice:{doveadm_scram('alice-secret')}::::::\n")
        cls.server = cls.env.start()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def mpop(self, name, port, tls, auth, password="alice-secret"):
        d = os.path.join(self.env.dir, name)
        md = os.path.join(d, "Maildir")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, sub), exist_ok=True)
        self.env.deliver("alice", f"Subject: {name}\n\nhello\n".encode())
        rc = os.path.join(d, "mpoprc")
        with open(rc, "w") as f:
            f.write(f"account test\nhost 127.0.0.1\nport {port}\nuser alice\n"
                    f"password {password}\nauth {auth}\ntls {'on' if tls else 'off'}\n"
                    f"tls_starttls off\ntls_trust_file {self.env.cert}\ntimeout 20\n"
                    f"keep off\ndelivery maildir {md}\nuidls_file {d}/uidls\n")
        os.chmod(rc, 0o600)
        env = {"PATH": os.environ["PATH"], "HOME": d, "TMPDIR": d, "LC_ALL": "C"}
        p = subprocess.run(["mpop", "--file=" + rc, "--all-accounts"], capture_output=True,
                           timeout=60, env=env)
        got = [open(os.path.join(md, "new", n), "rb").read() for n in os.listdir(md + "/new")]
        return p, got

    def test_scram_over_plain_tcp(self):
        p, got = self.mpop("plain", self.server.pop3, False, "scram-sha-256")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(any(b"Subject: plain" in m for m in got))

    def test_scram_over_pop3s(self):
        p, got = self.mpop("tls", self.server.pop3s, True, "scram-sha-256")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(any(b"Subject: tls" in m for m in got))

    def test_wrong_password_fails(self):
        p, _ = self.mpop("wrong", self.server.pop3, False, "scram-sha-256", "nope")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"authentication failed (method SCRAM-SHA-256)", p.stderr)


if __name__ == "__main__":
    run_tests()
