"""TLS as a client sees it: an ECDSA and an RSA certificate served side by
side, session resumption (tickets), and commands that arrive in pieces on
idle plain and TLS connections (which wait for input holding no buffer)."""

import os
import re
import socket
import ssl
import sys
import subprocess
import time
import unittest

from harness import Env, run_tests, vm_rss_kib


def make_ec_cert(cert, key, cn="pop.test"):
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", cert, "-days", "30", "-subj", f"/CN={cn}",
         "-addext", f"subjectAltName=DNS:{cn},DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True)


def der(pem_path):
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def client_context(version=None, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def read_line(s):
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = s.recv(1)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    return data


class TwoCertificatesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = Env()
        cls.ec_cert = os.path.join(cls.env.dir, "ec.pem")
        cls.ec_key = os.path.join(cls.env.dir, "ec.key")
        make_ec_cert(cls.ec_cert, cls.ec_key)
        with open(cls.env.config) as f:
            conf = f.read()
        conf = re.sub(r'\[tls\]\ncert = "[^"]*"\nkey = "[^"]*"\n',
                      f'[tls]\ncert = ["{cls.ec_cert}", "{cls.env.cert}"]\n'
                      f'key = ["{cls.ec_key}", "{cls.env.key}"]\n', conf)
        with open(cls.env.config, "w") as f:
            f.write(conf)
        cls.server = cls.env.start()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def served_cert(self, ctx):
        with socket.create_connection(("127.0.0.1", self.server.pop3s), timeout=10) as raw:
            with ctx.wrap_socket(raw) as s:
                self.assertTrue(read_line(s).startswith(b"+OK"))
                return s.getpeercert(binary_form=True)

    def test_a_client_that_can_verify_ecdsa_gets_the_ecdsa_certificate(self):
        self.assertEqual(self.served_cert(client_context()), der(self.ec_cert))
        self.assertEqual(
            self.served_cert(client_context(ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256")),
            der(self.ec_cert))

    def test_a_client_limited_to_rsa_gets_the_rsa_certificate(self):
        self.assertEqual(
            self.served_cert(client_context(ssl.TLSVersion.TLSv1_2, "ECDHE-RSA-AES128-GCM-SHA256")),
            der(self.env.cert))

    def test_stls_serves_the_same_certificates(self):
        with socket.create_connection(("127.0.0.1", self.server.pop3), timeout=10) as raw:
            self.assertTrue(read_line(raw).startswith(b"+OK"))
            raw.sendall(b"STLS\r\n")
            self.assertTrue(read_line(raw).startswith(b"+OK"))
            ctx = client_context(ssl.TLSVersion.TLSv1_2, "ECDHE-RSA-AES256-GCM-SHA384")
            with ctx.wrap_socket(raw) as s:
                self.assertEqual(s.getpeercert(binary_form=True), der(self.env.cert))
                s.sendall(b"CAPA\r\n")
                self.assertEqual(read_line(s), b"+OK Capability list follows\r\n")


class ResumptionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = Env()
        cls.server = cls.env.start()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def session_of(self, ctx, session=None):
        """One POP3S session that logs in and quits; returns (ssl session, reused)."""
        with socket.create_connection(("127.0.0.1", self.server.pop3s), timeout=10) as raw:
            with ctx.wrap_socket(raw, session=session) as s:
                # The TLS 1.3 ticket comes after the handshake: read the greeting first.
                self.assertTrue(read_line(s).startswith(b"+OK"))
                s.sendall(b"USER alice\r\nPASS alice-secret\r\n")
                self.assertTrue(read_line(s).startswith(b"+OK"))
                self.assertTrue(read_line(s).startswith(b"+OK"))
                s.sendall(b"QUIT\r\n")
                self.assertTrue(read_line(s).startswith(b"+OK"))
                return s.session, s.session_reused

    def test_tickets_resume_tls13_and_tls12_sessions(self):
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            with self.subTest(version=version):
                ctx = client_context(version)
                first, reused = self.session_of(ctx)
                self.assertFalse(reused)
                self.assertIsNotNone(first)
                self.assertTrue(first.has_ticket)
                _, reused = self.session_of(ctx, first)
                self.assertTrue(reused, "the server did not resume a session from its ticket")

    def test_a_ticket_from_another_server_is_not_resumed(self):
        other = Env()
        try:
            other_server = other.start()
            ctx = client_context(ssl.TLSVersion.TLSv1_3)
            port, self.server.pop3s = self.server.pop3s, other_server.pop3s
            try:
                foreign, _ = self.session_of(ctx)
            finally:
                self.server.pop3s = port
            _, reused = self.session_of(ctx, foreign)
            self.assertFalse(reused)
        finally:
            other.close()


class PiecemealInputTest(unittest.TestCase):
    """Connections wait for input with no read buffer; a command that
    arrives a byte at a time, or many commands at once, are answered alike."""

    @classmethod
    def setUpClass(cls):
        cls.env = Env()
        cls.env.deliver("alice", b"Subject: one\r\n\r\nbody\r\n")
        cls.server = cls.env.start()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def converse(self, s):
        self.assertTrue(read_line(s).startswith(b"+OK"))
        for byte in b"USER alice\r\n":
            s.sendall(bytes([byte]))
            time.sleep(0.005)
        self.assertTrue(read_line(s).startswith(b"+OK"))
        s.sendall(b"PASS alice-sec")
        time.sleep(0.05)
        s.sendall(b"ret\r\nSTAT\r\n" + b"NOOP\r\n" * 3000 + b"STAT\r\n")
        self.assertTrue(read_line(s).startswith(b"+OK"))
        self.assertEqual(read_line(s), b"+OK 1 22\r\n")
        for _ in range(3000):
            self.assertEqual(read_line(s), b"+OK\r\n")
        self.assertEqual(read_line(s), b"+OK 1 22\r\n")
        s.sendall(b"QUIT\r\n")
        self.assertTrue(read_line(s).startswith(b"+OK"))

    def test_plain(self):
        with socket.create_connection(("127.0.0.1", self.server.pop3), timeout=20) as s:
            self.converse(s)

    def test_tls(self):
        with socket.create_connection(("127.0.0.1", self.server.pop3s), timeout=20) as raw:
            with client_context().wrap_socket(raw) as s:
                self.converse(s)


@unittest.skipIf(os.environ.get("POPBOX_SANITIZED"),
                 "ASan's redzones and quarantine make every allocation far bigger")
class IdleMemoryTest(unittest.TestCase):
    """Logged-in sessions that wait for their next command hold no read,
    output or TLS record buffer: a few KB each, not the ~27 KB (plain) and
    ~90 KB (TLS) they held with a read buffer per connection and
    asio::ssl::stream's buffers. The bounds leave room for allocator noise."""

    SESSIONS = 300

    @classmethod
    def setUpClass(cls):
        cls.env = Env(users={f"idle{i}": "pw" for i in range(2 * cls.SESSIONS + 20)},
                      extra_sections="[limits]\nmax_connections_per_ip = 1000\n")
        for i in range(2 * cls.SESSIONS + 20):
            cls.env.deliver(f"idle{i}", b"Subject: x\r\n\r\nhello\r\n")
        cls.server = cls.env.start()
        cls.next_user = 0

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def login(self, tls):
        i = IdleMemoryTest.next_user
        IdleMemoryTest.next_user += 1
        raw = socket.create_connection(
            ("127.0.0.1", self.server.pop3s if tls else self.server.pop3), timeout=20)
        s = client_context().wrap_socket(raw) if tls else raw
        self.assertTrue(read_line(s).startswith(b"+OK"))
        s.sendall(f"USER idle{i}\r\nPASS pw\r\nSTAT\r\n".encode())
        for _ in range(3):
            self.assertTrue(read_line(s).startswith(b"+OK"))
        return s

    def bytes_per_idle_session(self, tls):
        held = [self.login(tls) for _ in range(10)]  # one-time allocations first
        time.sleep(0.3)
        before = vm_rss_kib(self.server.proc.pid)
        held += [self.login(tls) for _ in range(self.SESSIONS)]
        time.sleep(0.5)
        after = vm_rss_kib(self.server.proc.pid)
        for s in held:
            s.close()
        per = (after - before) * 1024 / self.SESSIONS
        print(f"\n{'TLS' if tls else 'plain'}: {per:.0f} bytes per idle session", file=sys.stderr)
        return per

    def test_plain_sessions_hold_a_few_kb(self):
        self.assertLess(self.bytes_per_idle_session(tls=False), 9.5 * 1024)

    def test_tls_sessions_hold_no_tls_stream_buffers(self):
        self.assertLess(self.bytes_per_idle_session(tls=True), 32 * 1024)


class CertificateConfigTest(unittest.TestCase):
    def test_two_certificates_of_one_key_type_are_refused_at_start(self):
        env = Env()
        try:
            with open(env.config) as f:
                conf = f.read()
            conf = re.sub(r'\[tls\]\ncert = "([^"]*)"\nkey = "([^"]*)"\n',
                          r'[tls]\ncert = ["\1", "\1"]\nkey = ["\2", "\2"]\n', conf)
            with open(env.config, "w") as f:
                f.write(conf)
            with self.assertRaises(RuntimeError) as caught:
                env.start()
            self.assertIn("same key type", str(caught.exception))
        finally:
            env.server = None
            env.close()


if __name__ == "__main__":
    run_tests()
