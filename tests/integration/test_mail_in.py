"""Mail in: LMTP (Python smtplib.LMTP, swaks, raw pipelining) and
`popbox deliver`, checked by reading the mail back over POP3 byte-exact."""

import os
import poplib
import random
import signal
import smtplib
import subprocess
import shutil
import time
import unittest

from harness import POPBOX, Env, LineClient, run_tests, wire_form

poplib._MAXLINE = 1 << 20

BIG = b"Subject: big\n\n" + b"".join(
    (b"." if i % 7 == 0 else b"") + b"line %d " % i + b"x" * 70 + b"\n" for i in range(80000))


def lmtp_env(**kw):
    unix = kw.pop("unix", False)
    sock_path = None
    env = Env(**kw)
    sections = '[lmtp]\nlisten = ["127.0.0.1:0"]\nmax_message_size = "20M"\n'
    if unix:
        sock_path = os.path.join(env.dir, "lmtp.sock")
        sections += f'unix = "{sock_path}"\n'
    with open(env.config, "a") as f:
        f.write(sections)
    env.lmtp_socket = sock_path
    return env


def pop3_messages(server, user, password):
    c = poplib.POP3("127.0.0.1", server.pop3)
    c.user(user)
    c.pass_(password)
    out = []
    for i in range(1, c.stat()[0] + 1):
        _, lines, _ = c.retr(i)
        out.append(b"".join(line + b"\r\n" for line in lines))
    c.quit()
    return out


class LmtpTest(unittest.TestCase):
    def setUp(self):
        self.env = lmtp_env(unix=True)
        self.server = self.env.start()

    def tearDown(self):
        self.env.close()

    def expected(self, sender, rcpt, msg):
        return wire_form(f"Return-Path: <{sender}>\nDelivered-To: {rcpt}\n".encode() + msg)

    def test_smtplib_lmtp_delivers_byte_exact(self):
        messages = [
            b"Subject: dots\n\n.\n..\n.leading dot\nend\n",
            b"Subject: 8bit\nContent-Type: text/plain; charset=utf-8\n\n\xc3\xa9t\xc3\xa9 \xff\x80\n",
            b"Subject: no final newline\n\nlast",
            BIG,
        ]
        with smtplib.LMTP("127.0.0.1", self.server.lmtp) as lmtp:
            for m in messages:
                lmtp.sendmail("sender@example.org", ["alice"], m.replace(b"\n", b"\r\n"))
        got = pop3_messages(self.server, "alice", "alice-secret")
        self.assertEqual(len(got), len(messages))
        for g, m in zip(got, messages):
            self.assertEqual(g, self.expected("sender@example.org", "alice", m))

    def test_unknown_recipient_refused_others_delivered(self):
        r = LineClient(self.server.lmtp)
        self.assertTrue(r.greeting.startswith(b"220 "))
        # Everything pipelined in one packet (RFC 2920).
        r.send(b"LHLO client.test\r\nMAIL FROM:<s@example.org>\r\n"
               b"RCPT TO:<alice@example.com>\r\nRCPT TO:<nobody@example.com>\r\n"
               b"RCPT TO:<bob@example.com>\r\nDATA\r\n")
        while r.line().startswith(b"250-"):
            pass
        self.assertEqual(r.line(), b"250 2.1.0 Ok")
        self.assertEqual(r.line(), b"250 2.1.5 Ok")
        self.assertEqual(r.line(), b"550 5.1.1 <nobody@example.com> User unknown")
        self.assertEqual(r.line(), b"250 2.1.5 Ok")
        self.assertTrue(r.line().startswith(b"354 "))
        r.send(b"Subject: multi\r\n\r\n..dot\r\n.\r\nQUIT\r\n")
        self.assertEqual(r.line(), b"250 2.0.0 <alice@example.com> Saved")
        self.assertEqual(r.line(), b"250 2.0.0 <bob@example.com> Saved")
        self.assertTrue(r.line().startswith(b"221 "))
        body = b"Subject: multi\n\n.dot\n"
        self.assertEqual(pop3_messages(self.server, "alice", "alice-secret"),
                         [self.expected("s@example.org", "alice@example.com", body)])
        self.assertEqual(pop3_messages(self.server, "bob@example.com", "bob secret"),
                         [self.expected("s@example.org", "bob@example.com", body)])

    def test_unix_socket(self):
        r = LineClient(path=self.env.lmtp_socket)
        r.send(b"LHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<alice>\r\nDATA\r\n")
        while not r.line().startswith(b"354"):
            pass
        r.send(b"Subject: unix\r\n\r\nhi\r\n.\r\n")
        self.assertEqual(r.line(), b"250 2.0.0 <alice> Saved")
        self.assertEqual(pop3_messages(self.server, "alice", "alice-secret"),
                         [self.expected("", "alice", b"Subject: unix\n\nhi\n")])

    def test_swaks(self):
        if not shutil.which("swaks"):
            self.skipTest("swaks is not installed")
        out = subprocess.run(
            ["swaks", "--protocol", "LMTP", "--server", f"127.0.0.1:{self.server.lmtp}",
             "--to", "alice@example.com", "--from", "swaks@example.org",
             "--header", "Subject: from swaks", "--body", "hello from swaks"],
            capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        got = pop3_messages(self.server, "alice", "alice-secret")
        self.assertEqual(len(got), 1)
        self.assertIn(b"Delivered-To: alice@example.com\r\n", got[0])
        self.assertIn(b"hello from swaks\r\n", got[0])

    def test_delivery_during_pop3_session_shows_up_next_session(self):
        c = poplib.POP3("127.0.0.1", self.server.pop3)
        c.user("alice")
        c.pass_("alice-secret")
        start = time.time()
        with smtplib.LMTP("127.0.0.1", self.server.lmtp) as lmtp:
            lmtp.sendmail("s@x", ["alice"], b"Subject: while locked\r\n\r\nx\r\n")
        self.assertLess(time.time() - start, 5)
        self.assertEqual(c.stat()[0], 0)
        c.quit()
        self.assertEqual(len(pop3_messages(self.server, "alice", "alice-secret")), 1)

    def test_too_big_message(self):
        r = LineClient(self.server.lmtp)
        r.send(b"LHLO x\r\nMAIL FROM:<a@b> SIZE=999999999\r\n")
        while r.line().startswith(b"250-"):
            pass
        self.assertEqual(r.line(), b"552 5.3.4 Message size exceeds fixed maximum message size")
        r.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<alice>\r\nDATA\r\n")
        for _ in range(3):
            r.line()
        chunk = b"y" * 1000 + b"\r\n"
        for _ in range(21 * 1024):
            r.send(chunk)
        r.send(b".\r\nNOOP\r\n")
        self.assertEqual(r.line(), b"552 5.3.4 Message size exceeds fixed maximum message size")
        self.assertEqual(r.line(), b"250 2.0.0 Ok")  # the session goes on
        self.assertEqual(pop3_messages(self.server, "alice", "alice-secret"), [])


class QuotaTest(unittest.TestCase):
    def test_quota_from_passwd_extra_fields(self):
        env = lmtp_env(user_extra={"alice": "userdb_quota_rule=*:storage=2K "
                                            "userdb_quota_rule2=*:messages=2"})
        try:
            server = env.start()
            small = b"Subject: s\r\n\r\nsmall\r\n"
            with smtplib.LMTP("127.0.0.1", server.lmtp) as lmtp:
                lmtp.sendmail("s@x", ["alice"], small)
                big = b"Subject: b\r\n\r\n" + b"z" * 4000 + b"\r\n"
                # smtplib announces SIZE, so the refusal comes at RCPT.
                with self.assertRaises(smtplib.SMTPRecipientsRefused) as err:
                    lmtp.sendmail("s@x", ["alice"], big)
                self.assertEqual(err.exception.recipients["alice"][0], 552)
            # Without SIZE the refusal comes after DATA.
            r = LineClient(server.lmtp)
            r.send(b"LHLO x\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice>\r\nDATA\r\n")
            while not r.line().startswith(b"354"):
                pass
            r.send(big + b".\r\n")
            self.assertEqual(r.line(), b"552 5.2.2 <alice> Mailbox full")
            with smtplib.LMTP("127.0.0.1", server.lmtp) as lmtp:
                lmtp.sendmail("s@x", ["alice"], small)
                with self.assertRaises(smtplib.SMTPRecipientsRefused) as err:
                    lmtp.sendmail("s@x", ["alice"], small)  # third message: over messages=2
            self.assertEqual(len(pop3_messages(server, "alice", "alice-secret")), 2)
            # deliver says 77 for the same user.
            full = subprocess.run([POPBOX, "deliver", "--config", env.config, "--user", "alice"],
                                  input=small, capture_output=True)
            self.assertEqual(full.returncode, 77)
        finally:
            env.close()


class DeliverTest(unittest.TestCase):
    def setUp(self):
        self.env = Env()

    def tearDown(self):
        self.env.close()

    def deliver(self, user, data, sender="s@example.org"):
        return subprocess.run([POPBOX, "deliver", "--config", self.env.config, "--user", user,
                               "--from", sender], input=data, capture_output=True)

    def test_exit_codes_and_headers(self):
        self.assertEqual(self.deliver("alice", b"Subject: d\n\nbody\n").returncode, 0)
        self.assertEqual(self.deliver("nobody", b"x").returncode, 67)
        server = self.env.start()
        self.assertEqual(pop3_messages(server, "alice", "alice-secret"),
                         [wire_form(b"Return-Path: <s@example.org>\nDelivered-To: alice\n"
                                    b"Subject: d\n\nbody\n")])

    def test_unwritable_maildir_is_temporary(self):
        os.makedirs(os.path.join(self.env.mail_root), exist_ok=True)
        blocker = os.path.join(self.env.mail_root, "alice")
        with open(blocker, "w") as f:
            f.write("a file where the Maildir's parent should be")
        self.assertEqual(self.deliver("alice", b"x\n").returncode, 75)

    def test_sigkill_never_leaves_partial_or_loses_acknowledged(self):
        rng = random.Random(7)
        body = b"Subject: k\n\n" + b"0123456789abcdef" * 40000 + b"\n"  # 640 KB
        acknowledged = 0
        for _ in range(25):
            p = subprocess.Popen([POPBOX, "deliver", "--config", self.env.config, "--user",
                                  "alice"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            try:
                p.stdin.write(body[: rng.randrange(len(body))])
                p.stdin.close()
            except BrokenPipeError:
                pass
            time.sleep(rng.random() * 0.05)
            p.send_signal(signal.SIGKILL)
            p.wait()
        for _ in range(5):
            r = self.deliver("alice", body)
            self.assertEqual(r.returncode, 0)
            acknowledged += 1
        new = os.path.join(self.env.maildir("alice"), "new")
        files = os.listdir(new)
        # Every visible message is whole: either a full copy or a complete
        # truncated input that deliver read to its end before being killed.
        for name in files:
            with open(os.path.join(new, name), "rb") as f:
                data = f.read()
            size = int(name.split(",S=")[1])
            self.assertEqual(len(data), size, name)
        headers = len(b"Return-Path: <s@example.org>\nDelivered-To: alice\n")
        full = [n for n in files if int(n.split(",S=")[1]) == len(body) + headers]
        self.assertGreaterEqual(len(full), acknowledged)


if __name__ == "__main__":
    run_tests()
