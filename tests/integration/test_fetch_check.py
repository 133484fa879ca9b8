"""`popbox fetch check` against `popbox serve`: plain, STLS and POP3S show
greeting, CAPA, TLS and the chain; the printed fingerprint is the pin
docs/fetch.md computes; verification failures and pin mismatches exit 76
after showing the chain; escape codes a server sends are shown escaped."""

import os
import socket
import subprocess
import threading
import unittest

import harness
from fetch_helpers import EX_PROTOCOL, EX_UNAVAILABLE, account, pin_of, write_config
from harness import Env, run_tests


class Check(unittest.TestCase):
    def setUp(self):
        self.env = Env()
        self.env.start()
        self.config = os.path.join(self.env.dir, "fetch.toml")

    def tearDown(self):
        self.env.close()

    def check(self, **kw):
        write_config(self.config, account(self.env, **kw))
        return subprocess.run([harness.POPBOX, "fetch", "check", "--config", self.config,
                               "--account", "work"], capture_output=True, text=True, timeout=60)

    def test_plain(self):
        r = self.check(mode="none")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("greeting: +OK pop.test POP3 server ready", r.stdout)
        self.assertIn("capa: UIDL", r.stdout)
        self.assertIn("tls: none", r.stdout)

    def test_starttls_and_implicit_show_chain_and_pin(self):
        for mode in ("starttls", "implicit"):
            r = self.check(mode=mode)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout, r"tls: TLSv1\.[23] \S+")
            self.assertIn("certificate 0: subject: CN=pop.test", r.stdout)
            self.assertIn("issuer: CN=pop.test", r.stdout)
            self.assertIn("valid: ", r.stdout)
            self.assertIn("fingerprint: " + pin_of(self.env.cert) + "\n", r.stdout)
            self.assertIn("verification: ok", r.stdout)
        self.assertIn("capa (after STLS): USER", self.check(mode="starttls").stdout)

    def test_printed_pin_works_as_the_fingerprint_key(self):
        r = self.check(mode="implicit", ca_file=None)
        self.assertEqual(r.returncode, EX_PROTOCOL)
        self.assertIn("certificate 0: subject: CN=pop.test", r.stdout)  # shown anyway
        self.assertIn("self-signed", r.stderr)
        self.assertNotIn("greeting:", r.stdout)
        pin = r.stdout.split("fingerprint: ")[1].split()[0]
        r = self.check(mode="implicit", ca_file=None, fingerprint=pin)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("pin: matches", r.stdout)
        r = self.check(mode="implicit", fingerprint="sha256:" + "A" * 43 + "=")
        self.assertEqual(r.returncode, EX_PROTOCOL)
        self.assertIn("does not match", r.stderr)

    def test_refused(self):
        r = self.check(mode="none", port=harness.free_port())
        self.assertEqual(r.returncode, EX_UNAVAILABLE)
        self.assertIn("cannot connect", r.stderr)


class Hostile(unittest.TestCase):
    def test_escape_codes_are_escaped(self):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)

        def serve():
            c, _ = srv.accept()
            c.sendall(b"+OK \x1b]0;owned\x07hi\r\n")
            c.recv(100)
            c.sendall(b"-ERR \x1b[2J\r\n")
            c.recv(100)
            c.sendall(b"+OK\r\n")
            c.close()

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        d = harness.tempfile.mkdtemp()
        cfg = write_config(os.path.join(d, "f.toml"), {
            "name": "work", "host": "127.0.0.1", "port": srv.getsockname()[1], "tls": "none",
            "user": "u", "password": "p", "deliver": "maildir:" + d + "/out",
            "state_dir": d + "/state"})
        r = subprocess.run([harness.POPBOX, "fetch", "check", "-c", cfg, "-a", "work"],
                           capture_output=True, timeout=60)
        t.join(5)
        srv.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(b"\x1b", r.stdout + r.stderr)
        self.assertIn(b"greeting: +OK \\x1b]0;owned\\x07hi", r.stdout)
        self.assertIn(b"\\x1b[2J", r.stdout)


class HostileFetch(unittest.TestCase):
    def test_err_text_is_escaped_on_the_terminal(self):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)

        def serve():
            c, _ = srv.accept()
            f = c.makefile("rb")
            c.sendall(b"+OK ready\r\n")
            f.readline()  # CAPA
            c.sendall(b"-ERR\r\n")
            f.readline()  # USER
            c.sendall(b"-ERR [AUTH] \x1b]0;owned\x07\x1b[2Jno\r\n")
            c.close()

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        d = harness.tempfile.mkdtemp()
        cfg = write_config(os.path.join(d, "f.toml"), {
            "name": "work", "host": "127.0.0.1", "port": srv.getsockname()[1], "tls": "none",
            "user": "u", "password": "p", "auth": "user", "deliver": "maildir:" + d + "/out",
            "state_dir": d + "/state", "timeout": "10s"})
        r = subprocess.run([harness.POPBOX, "fetch", "-c", cfg], capture_output=True, timeout=60)
        t.join(5)
        srv.close()
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn(b"\x1b", r.stdout + r.stderr)
        self.assertIn(b"\\x1b]0;owned\\x07\\x1b[2Jno", r.stderr)


if __name__ == "__main__":
    run_tests()
