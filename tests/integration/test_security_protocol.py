"""Protocol hardening against the open internet: SMTP smuggling over LMTP,
the TLS policy of the POP3S port (versions, suites, ALPN), and escaping of
client-supplied names in the log."""

import os
import poplib
import re
import shutil
import socket
import subprocess
import unittest

from harness import Env, LineClient, run_tests, wire_form


def maildir_files(env, user):
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(env.maildir(user), sub)
        if os.path.isdir(d):
            out += [os.path.join(d, n) for n in sorted(os.listdir(d))]
    return out


class SmugglingTest(unittest.TestCase):
    """SMTP smuggling (2023): a body ending in a bare-LF dot line must not end
    DATA, or the rest of it becomes a transaction the relay never saw."""

    def setUp(self):
        self.env = Env(extra_sections='[lmtp]\nlisten = ["127.0.0.1:0"]\n')
        self.server = self.env.start()

    def tearDown(self):
        self.env.close()

    def smuggle(self, end):
        body = (b"Subject: hi\r\n\r\nhello" + end + b"MAIL FROM:<x@evil.test>\r\n"
                b"RCPT TO:<bob@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n")
        r = LineClient(self.server.lmtp, greeting=False)
        self.assertTrue(r.line().startswith(b"220 "))
        r.send(b"LHLO relay.test\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<alice>\r\nDATA\r\n")
        while r.line().startswith(b"250-"):
            pass
        self.assertEqual(r.line(), b"250 2.1.0 Ok")
        self.assertEqual(r.line(), b"250 2.1.5 Ok")
        self.assertTrue(r.line().startswith(b"354 "))
        r.send(body + b".\r\nQUIT\r\n")
        # One reply for the one message, then QUIT's: no MAIL/RCPT/DATA replies.
        self.assertEqual(r.line(), b"250 2.0.0 <alice> Saved")
        self.assertTrue(r.line().startswith(b"221 "))
        r.close()
        return body

    def test_bare_lf_dot_lines_do_not_end_data(self):
        for end in (b"\n.\n", b"\r\n.\n", b"\n.\r\n"):
            with self.subTest(end=end):
                for path in maildir_files(self.env, "alice"):
                    os.unlink(path)
                body = self.smuggle(end)
                files = maildir_files(self.env, "alice")
                self.assertEqual(len(files), 1)
                with open(files[0], "rb") as f:
                    stored = f.read()
                want = (b"Return-Path: <s@example.org>\nDelivered-To: alice\n"
                        + body.replace(b"\r\n", b"\n"))
                self.assertEqual(stored, want)
                self.assertEqual(maildir_files(self.env, "bob@example.com"), [])
                # And POP3 hands out exactly those bytes.
                c = poplib.POP3("127.0.0.1", self.server.pop3, timeout=20)
                c.user("alice")
                c.pass_("alice-secret")
                self.assertEqual(c.stat()[0], 1)
                _, lines, _ = c.retr(1)
                c.quit()
                self.assertEqual(b"".join(line + b"\r\n" for line in lines), wire_form(want))


def s_client(port, *args, data=b"QUIT\r\n"):
    """Runs `openssl s_client` against the port; returns (exit code, output)."""
    p = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "pop.test",
         "-ign_eof", *args],
        input=data, capture_output=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def handshake_ok(out):
    """True when the POP3 greeting came through TLS and QUIT was answered."""
    return "+OK" in out and re.search(r"Cipher is (?!\(NONE\))\S+", out) is not None


@unittest.skipUnless(shutil.which("openssl"), "openssl is not installed")
class TlsPolicyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = Env()
        cls.server = cls.env.start()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def test_cbc_sha1_suite_is_refused(self):
        rc, out = s_client(self.server.pop3s, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA")
        self.assertNotEqual(rc, 0, out)
        self.assertFalse(handshake_ok(out), out)
        self.assertIn("alert handshake failure", out)  # the server refused it

    def test_rsa_key_exchange_and_dhe_are_refused(self):
        for suite in ("AES128-GCM-SHA256", "DHE-RSA-AES128-GCM-SHA256"):
            with self.subTest(suite=suite):
                rc, out = s_client(self.server.pop3s, "-tls1_2", "-cipher", suite)
                self.assertNotEqual(rc, 0, out)
                self.assertFalse(handshake_ok(out), out)

    def test_tls_1_1_is_refused(self):
        # SECLEVEL=0 lets this OpenSSL client really offer TLS 1.1: the
        # refusal must come from the server.
        rc, out = s_client(self.server.pop3s, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
        self.assertNotEqual(rc, 0, out)
        self.assertFalse(handshake_ok(out), out)
        self.assertIn("alert protocol version", out)

    def test_tls_1_2_aead_suites_work(self):
        for suite in ("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                      "ECDHE-RSA-CHACHA20-POLY1305"):
            with self.subTest(suite=suite):
                rc, out = s_client(self.server.pop3s, "-tls1_2", "-cipher", suite)
                self.assertEqual(rc, 0, out)
                self.assertTrue(handshake_ok(out), out)
                self.assertIn(f"Cipher is {suite}", out)

    def test_tls_1_3_works(self):
        rc, out = s_client(self.server.pop3s, "-tls1_3")
        self.assertEqual(rc, 0, out)
        self.assertTrue(handshake_ok(out), out)
        self.assertIn("TLSv1.3", out)

    def test_server_prefers_its_own_order(self):
        # The client lists AES128 first; the server's order picks AES256.
        rc, out = s_client(self.server.pop3s, "-tls1_2", "-cipher",
                           "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384")
        self.assertEqual(rc, 0, out)
        self.assertIn("Cipher is ECDHE-RSA-AES256-GCM-SHA384", out)

    def test_session_ticket_is_issued(self):
        rc, out = s_client(self.server.pop3s, "-tls1_2")
        self.assertEqual(rc, 0, out)
        self.assertIn("TLS session ticket:", out)

    def test_alpn_pop3_is_selected(self):
        for version in ("-tls1_2", "-tls1_3"):
            with self.subTest(version=version):
                rc, out = s_client(self.server.pop3s, version, "-alpn", "pop3")
                self.assertEqual(rc, 0, out)
                self.assertTrue(handshake_ok(out), out)
                self.assertIn("ALPN protocol: pop3", out)
        rc, out = s_client(self.server.pop3s, "-alpn", "http/1.1,pop3")
        self.assertIn("ALPN protocol: pop3", out)

    def test_alpn_without_pop3_is_refused(self):
        for protos in ("http/1.1", "imap,h2"):
            with self.subTest(alpn=protos):
                rc, out = s_client(self.server.pop3s, "-alpn", protos)
                self.assertNotEqual(rc, 0, out)
                self.assertFalse(handshake_ok(out), out)
                self.assertIn("no application protocol", out)

    def test_no_alpn_is_served(self):
        rc, out = s_client(self.server.pop3s)
        self.assertEqual(rc, 0, out)
        self.assertTrue(handshake_ok(out), out)
        self.assertIn("No ALPN negotiated", out)

    def test_stls_applies_the_same_policy(self):
        rc, out = s_client(self.server.pop3, "-starttls", "pop3", "-alpn", "http/1.1")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("no application protocol", out)
        rc, out = s_client(self.server.pop3, "-starttls", "pop3", "-tls1_2", "-cipher",
                           "ECDHE-RSA-AES128-SHA")
        self.assertNotEqual(rc, 0, out)


class LogEscapeTest(unittest.TestCase):
    def setUp(self):
        self.env = Env()
        self.server = self.env.start()

    def tearDown(self):
        self.env.close()

    def pop3_script(self, *commands):
        s = socket.create_connection(("127.0.0.1", self.server.pop3), timeout=20)
        f = s.makefile("rb")
        replies = [f.readline()]
        for c in commands:
            s.sendall(c + b"\r\n")
            replies.append(f.readline())
        s.close()
        return replies

    def log_lines(self, event):
        with open(self.server.log_path, "rb") as lf:
            log = lf.read()
        self.assertNotIn(b"\x1b", log)
        self.assertNotIn(b"\xff", log)
        return [line for line in log.splitlines() if b"event=" + event + b" " in line]

    def test_user_name_bytes_are_escaped_in_login_and_disconnect_lines(self):
        # A control character is refused before it is ever a user name.
        replies = self.pop3_script(b"USER a\x1bb\xff", b"QUIT")
        self.assertEqual(replies[1], b"-ERR Invalid user name.\r\n")
        # 8-bit bytes, quotes and '=' are allowed in a name: they are escaped.
        replies = self.pop3_script(b'USER a\xffb"x=1', b"PASS wrong", b"QUIT")
        self.assertTrue(replies[1].startswith(b"+OK"), replies)
        self.assertTrue(replies[2].startswith(b"-ERR"), replies)
        # A session that ends after USER logs the name it was given.
        replies = self.pop3_script(b'USER a\xffb"x=1', b"QUIT")
        self.assertTrue(replies[2].startswith(b"+OK"), replies)
        self.server.stop()
        want = rb"user=a\xffb\x22x\x3d1 "
        login = self.log_lines(b"login")
        self.assertEqual(len(login), 1, login)
        self.assertIn(want + b"result=", login[0])
        disconnect = self.log_lines(b"disconnect")
        self.assertEqual(len(disconnect), 3, disconnect)
        self.assertIn(b" user=- ", disconnect[0])
        self.assertIn(b" " + want + b"result=quit ", disconnect[2])


class LmtpLogEscapeTest(unittest.TestCase):
    def setUp(self):
        self.env = Env(extra_sections='[lmtp]\nlisten = ["127.0.0.1:0"]\n')
        self.server = self.env.start()

    def tearDown(self):
        self.env.close()

    def test_recipient_and_sender_are_escaped(self):
        r = LineClient(self.server.lmtp, greeting=False)
        self.assertTrue(r.line().startswith(b"220 "))
        r.send(b'LHLO x\r\nMAIL FROM:<s\xff"=@x>\r\nRCPT TO:<n\xff"o=1@x>\r\n'
               b"RCPT TO:<alice>\r\nDATA\r\n")
        while r.line().startswith(b"250-"):
            pass
        self.assertEqual(r.line(), b"250 2.1.0 Ok")
        self.assertTrue(r.line().startswith(b"550 5.1.1 "))
        self.assertEqual(r.line(), b"250 2.1.5 Ok")
        self.assertTrue(r.line().startswith(b"354 "))
        r.send(b"Subject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n")
        self.assertEqual(r.line(), b"250 2.0.0 <alice> Saved")
        r.close()
        self.server.stop()
        with open(self.server.log_path, "rb") as lf:
            log = lf.read()
        self.assertNotIn(b"\xff", log)
        self.assertIn(rb"event=rcpt_refused rcpt=<n\xff\x22o\x3d1@x> ", log)
        self.assertIn(rb"event=deliver from=<s\xff\x22\x3d@x> rcpt=<alice> user=alice ", log)


if __name__ == "__main__":
    run_tests()
