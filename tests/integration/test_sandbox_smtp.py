"""`popbox sandbox`, SMTP side: swaks and smtplib (plain, STARTTLS, AUTH
PLAIN/LOGIN) deliver into catch-all inboxes whose Maildir files hold the
exact octets sent; PIPELINING; the size limit; strict AUTH; a restart keeps
the inboxes; a non-loopback listener without --api-token is refused."""

import glob
import json
import os
import shutil
import signal
import smtplib
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import POPBOX, LineClient, run_tests, wait_for


class Sandbox:
    """A running `popbox sandbox` on an ephemeral SMTP port."""

    def __init__(self, data, *extra):
        self.data = data
        self.proc = subprocess.Popen(
            [POPBOX, "sandbox", "--data", data, "--smtp", "127.0.0.1:0", "--pop3", "127.0.0.1:0",
             "--pop3s", "127.0.0.1:0", "--http", "127.0.0.1:0", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = {}
        while "smtp" not in self.lines:
            line = self.proc.stdout.readline().decode()
            if not line:
                raise AssertionError("sandbox exited: " + self.proc.stderr.read().decode())
            kind, _, rest = line.partition(" ")
            self.lines[kind] = rest.strip()
        self.port = int(self.lines["smtp"].split()[0].rsplit(":", 1)[1])

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=20)
        self.log = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc

    def inboxes(self):
        """{address: (inbox dir, metadata)}"""
        out = {}
        for meta in glob.glob(os.path.join(self.data, "inboxes", "*", "inbox.json")):
            with open(meta) as f:
                doc = json.load(f)
            out[doc["address"]] = (os.path.dirname(meta), doc)
        return out

    def stored(self, address):
        """The Maildir files of `address`'s inbox, oldest first."""
        inbox = self.inboxes().get(address.lower())
        if not inbox:
            return []
        files = glob.glob(os.path.join(inbox[0], "Maildir", "new", "*"))
        files += glob.glob(os.path.join(inbox[0], "Maildir", "cur", "*"))
        files.sort(key=lambda p: int(os.path.basename(p).split("Q")[1].split(".")[0]))
        result = []
        for p in files:
            with open(p, "rb") as f:
                result.append(f.read())
        return result


def no_verify():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class SandboxSmtpTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="popbox-sandbox-test-")
        self.data = os.path.join(self.dir, "data")
        self.box = None

    def tearDown(self):
        if self.box and self.box.proc.poll() is None:
            self.box.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, *extra):
        self.box = Sandbox(self.data, *extra)
        return self.box

    def test_starts_fast_prints_the_port_and_makes_a_private_key(self):
        t0 = time.monotonic()
        box = self.start()
        self.assertLess(time.monotonic() - t0, 1.0)
        self.assertIn("(STARTTLS)", box.lines["smtp"])
        self.assertEqual(os.stat(os.path.join(self.data, "sandbox-key.pem")).st_mode & 0o777, 0o600)
        out = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                              os.path.join(self.data, "sandbox-cert.pem")],
                             capture_output=True, text=True, check=True).stdout
        self.assertIn("IP Address:127.0.0.1", out)
        self.assertIn("DNS:localhost", out)
        self.assertEqual(box.stop(), 0)

    def test_smtplib_starttls_login_stores_exact_octets(self):
        box = self.start()
        msg = (b"From: Dev <dev@app.test>\r\nTo: ann@example.com\r\nSubject: caf\xc3\xa9\r\n\r\n"
               b".leading dot\r\n..two dots\r\n\xe9 8-bit\r\nlast line\r\n")
        with smtplib.SMTP("127.0.0.1", box.port, timeout=20) as s:
            s.ehlo("client.test")
            self.assertTrue(s.has_extn("starttls"))
            s.starttls(context=no_verify())
            s.ehlo("client.test")
            self.assertFalse(s.has_extn("starttls"))
            s.login("Ann@Example.com", "anything")
            refused = s.sendmail("dev@app.test", ["Ann@Example.com", "bob@example.com"], msg,
                                 mail_options=["BODY=8BITMIME", "SMTPUTF8"])
            self.assertEqual(refused, {})
        self.assertEqual(box.stored("ann@example.com"), [msg])
        self.assertEqual(box.stored("bob@example.com"), [msg])
        meta = box.inboxes()["ann@example.com"][1]
        self.assertTrue(meta["auto_created"])
        self.assertEqual(meta["messages"][0]["size"], len(msg))
        self.assertEqual(meta["messages"][0]["from"], "dev@app.test")
        self.assertEqual(meta["messages"][0]["to"], ["Ann@Example.com"])

    def test_swaks_plain_starttls_auth_plain_and_login(self):
        box = self.start()
        runs = [[], ["--tls"], ["--tls", "--auth", "PLAIN", "--auth-user", "u@t",
                                "--auth-password", "pw"],
                ["--auth", "LOGIN", "--auth-user", "u@t", "--auth-password", "pw"]]
        for i, extra in enumerate(runs):
            r = subprocess.run(["swaks", "--server", f"127.0.0.1:{box.port}", "--to", "qa@t.test",
                                "--from", "ci@t.test", "--header", f"Subject: run {i}",
                                "--body", f"body {i}", *extra],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("250 2.0.0 Ok: queued as", r.stdout)
        stored = box.stored("qa@t.test")
        self.assertEqual(len(stored), 4)
        for i, m in enumerate(stored):
            self.assertIn(f"Subject: run {i}\r\n".encode(), m)
            self.assertTrue(m.endswith(f"\r\n\r\nbody {i}\r\n\r\n\r\n".encode()), m)  # swaks' blank lines
            self.assertNotIn(b"\n", m.replace(b"\r\n", b""))  # CRLF kept as sent

    def test_pipelining_replies_in_order(self):
        box = self.start()
        with LineClient(box.port) as c:
            self.assertTrue(c.greeting.startswith(b"220 "))
            c.send(b"EHLO p.test\r\nMAIL FROM:<a@p.test>\r\nRCPT TO:<x@p.test>\r\n"
                   b"RCPT TO:<bad address>\r\nRCPT TO:<y@p.test>\r\nDATA\r\n")
            ehlo = []
            while not (line := c.line()).startswith(b"250 "):
                ehlo.append(line)
            self.assertIn(b"250-PIPELINING", ehlo)
            self.assertEqual([c.line() for _ in range(5)],
                             [b"250 2.1.0 Ok", b"250 2.1.5 Ok", b"501 5.1.3 Bad recipient address syntax",
                              b"250 2.1.5 Ok", b"354 End data with <CR><LF>.<CR><LF>"])
            c.send(b"one\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<x@p.test>\r\nDATA\r\n")
            self.assertTrue(c.line().startswith(b"250 2.0.0 Ok: queued as"))
            self.assertEqual([c.line(), c.line(), c.line()],
                             [b"250 2.1.0 Ok", b"250 2.1.5 Ok", b"354 End data with <CR><LF>.<CR><LF>"])
            # Only CRLF . CRLF ends the data: the bare-LF dot line is content.
            c.send(b"two\n.\nstill two\r\n.\r\nQUIT\r\n")
            self.assertTrue(c.line().startswith(b"250 2.0.0 Ok: queued as"))
            self.assertTrue(c.line().startswith(b"221 "))
        self.assertEqual(box.stored("x@p.test"), [b"one\r\n", b"two\n.\nstill two\r\n"])
        self.assertEqual(box.stored("y@p.test"), [b"one\r\n"])

    def test_message_size_limit(self):
        box = self.start("--max-message-size", "1K")
        with smtplib.SMTP("127.0.0.1", box.port, timeout=20) as s:
            s.ehlo()
            self.assertEqual(s.esmtp_features["size"], "1024")
            with self.assertRaises(smtplib.SMTPSenderRefused) as e:
                s.sendmail("a@t", ["big@t"], b"x" * 2000 + b"\r\n")
            self.assertEqual(e.exception.smtp_code, 552)
        with LineClient(box.port) as c:
            c.cmd("EHLO t")
            while not c.line().startswith(b"250 "):
                pass
            self.assertEqual(c.cmd("MAIL FROM:<a@t>"), b"250 2.1.0 Ok")
            self.assertEqual(c.cmd("RCPT TO:<big@t>"), b"250 2.1.5 Ok")
            self.assertTrue(c.cmd("DATA").startswith(b"354"))
            c.send(b"y" * 3000 + b"\r\n.\r\n")
            self.assertEqual(c.line(), b"552 5.3.4 Message size exceeds fixed maximum message size")
            self.assertEqual(c.cmd("NOOP"), b"250 2.0.0 Ok")
        self.assertEqual(box.stored("big@t"), [])

    def test_strict_auth_refuses_wrong_credentials(self):
        box = self.start("--strict-auth")
        with smtplib.SMTP("127.0.0.1", box.port, timeout=20) as s:
            s.ehlo()
            with self.assertRaises(smtplib.SMTPAuthenticationError) as e:
                s.login("nobody@t", "Sekr1t-pw")
            self.assertEqual(e.exception.smtp_code, 535)
        self.assertEqual(box.stop(), 0)
        self.assertIn(b"event=auth user=nobody@t result=failed", box.log)
        self.assertNotIn(b"Sekr1t", box.log)  # credentials are never logged

    def test_restart_keeps_inboxes(self):
        box = self.start()
        with smtplib.SMTP("127.0.0.1", box.port, timeout=20) as s:
            s.sendmail("a@t", ["keep@t"], b"Subject: 1\r\n\r\none\r\n")
        before = box.inboxes()["keep@t"]
        self.assertEqual(box.stop(), 0)
        box = self.start()
        with smtplib.SMTP("127.0.0.1", box.port, timeout=20) as s:
            s.sendmail("a@t", ["keep@t"], b"Subject: 2\r\n\r\ntwo\r\n")
        after = box.inboxes()["keep@t"]
        self.assertEqual(after[1]["id"], before[1]["id"])
        self.assertEqual([m["seq"] for m in after[1]["messages"]], [1, 2])
        self.assertEqual(box.stored("keep@t"),
                         [b"Subject: 1\r\n\r\none\r\n", b"Subject: 2\r\n\r\ntwo\r\n"])

    def test_non_loopback_needs_a_token_and_flags_are_checked(self):
        for args, needle in [(["--smtp", "0.0.0.0:0"], "not a loopback address"),
                             (["--http", "192.0.2.1:8025"], "--api-token"),
                             (["--pop3", "nonsense"], "--pop3: not HOST:PORT"),
                             (["--max-message-size", "huge"], "--max-message-size")]:
            r = subprocess.run([POPBOX, "sandbox", "--data", self.data, *args],
                               capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 64, r.stderr)
            self.assertIn(needle, r.stderr)

    def test_ephemeral_says_it_writes_nothing_and_stops_on_sigint(self):
        # That it writes nothing at all is test_sandbox_pop3's test.
        proc = subprocess.Popen([POPBOX, "sandbox", "--ephemeral", "--smtp", "127.0.0.1:0",
                                 "--pop3", "127.0.0.1:0", "--pop3s", "127.0.0.1:0", "--http",
                                 "127.0.0.1:0"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = proc.stdout.readline().decode()
        self.assertEqual(line, "data - (ephemeral: in memory, nothing written)\n")
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(timeout=20), 0)
        proc.stdout.close()

    def test_second_sandbox_on_the_same_data_is_refused(self):
        self.start()
        r = subprocess.run([POPBOX, "sandbox", "--data", self.data, "--smtp", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("in use", r.stderr)


if __name__ == "__main__":
    run_tests()
