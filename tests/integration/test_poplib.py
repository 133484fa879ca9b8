"""popbox serve against Python's poplib: plain, STLS and POP3S, every
message shape byte-exact, sizes exact, deletions only on QUIT."""

import os
import poplib
import socket
import ssl
import time
import unittest

from harness import CLUSTER, MESSAGES, Env, run_tests, wire_form

poplib._MAXLINE = 1 << 20  # the default 2048 cannot take a 6,000-octet line


def tls_context(env):
    ctx = ssl.create_default_context(cafile=env.cert)
    ctx.check_hostname = False
    return ctx


class PoplibTest(unittest.TestCase):
    def setUp(self):
        self.env = Env()
        self.names = list(MESSAGES)
        for name in self.names:
            self.env.deliver("alice", MESSAGES[name])
        self.server = self.env.start()

    def tearDown(self):
        self.env.close()

    def connect_after_drop(self):
        """Log in again after dropping a connection: the server may take a
        moment to notice the drop and release the maildrop lock."""
        for _ in range(50):
            try:
                return self.connect()
            except poplib.error_proto as e:
                if b"[IN-USE]" not in e.args[0]:
                    raise
                time.sleep(0.05)
        return self.connect()

    def connect(self, mode="plain", user="alice"):
        if mode == "ssl":
            c = poplib.POP3_SSL("127.0.0.1", self.server.pop3s, context=tls_context(self.env))
        else:
            c = poplib.POP3("127.0.0.1", self.server.pop3)
            if mode == "stls":
                c.stls(tls_context(self.env))
        c.user(user)
        c.pass_(self.env.users[user])
        return c

    def check_all_messages(self, c):
        count, total = c.stat()
        self.assertEqual(count, len(self.names))
        sizes = {}
        for line in c.list()[1]:
            num, size = line.split()
            sizes[int(num)] = int(size)
        self.assertEqual(sum(sizes.values()), total)
        for i, name in enumerate(self.names, start=1):
            want = wire_form(MESSAGES[name])
            resp, lines, octets = c.retr(i)
            got = b"".join(line + b"\r\n" for line in lines)
            self.assertEqual(got, want, name)
            self.assertEqual(sizes[i], len(want), name)
            self.assertEqual(octets, len(want), name)

    def test_plain_retr_is_byte_exact(self):
        c = self.connect("plain")
        self.check_all_messages(c)
        c.quit()

    def test_stls_retr_is_byte_exact(self):
        c = self.connect("stls")
        self.check_all_messages(c)
        c.quit()

    def test_pop3s_retr_is_byte_exact(self):
        c = self.connect("ssl")
        self.check_all_messages(c)
        c.quit()

    def test_top_sends_header_and_n_lines(self):
        c = self.connect()
        lf = self.names.index("lf") + 1
        _, lines, _ = c.top(lf, 0)
        self.assertEqual(lines, [b"From: a@example.com", b"To: b@example.com", b"Subject: lf", b""])
        _, lines, _ = c.top(lf, 1)
        self.assertEqual(lines[-1], b"Hello")
        dots = self.names.index("dots") + 1
        _, lines, _ = c.top(dots, 3)
        self.assertEqual(lines[2:], [b".", b"..", b".hidden"])
        c.quit()

    def test_uidl_unique_valid_and_stable(self):
        c = self.connect()
        first = [line.split()[1] for line in c.uidl()[1]]
        c.quit()
        self.assertEqual(len(set(first)), len(first))
        for u in first:
            self.assertTrue(1 <= len(u) <= 70)
            self.assertTrue(all(0x21 <= b <= 0x7E for b in u))
        c = self.connect()
        self.assertEqual([line.split()[1] for line in c.uidl()[1]], first)
        c.quit()

    def test_dele_applies_only_on_quit(self):
        c = self.connect()
        c.dele(1)
        c.dele(2)
        self.assertEqual(c.stat()[0], len(self.names) - 2)
        with self.assertRaises(poplib.error_proto):
            c.retr(1)
        # Dropping the connection without QUIT deletes nothing.
        c.file.close()  # poplib's file object keeps the socket open
        c.sock.close()
        c = self.connect_after_drop()
        self.assertEqual(c.stat()[0], len(self.names))
        c.dele(1)
        c.rset()
        c.dele(2)
        c.quit()
        c = self.connect()
        self.assertEqual(c.stat()[0], len(self.names) - 1)
        uidls = [line.split()[1] for line in c.uidl()[1]]
        c.quit()
        self.assertEqual(len(uidls), len(self.names) - 1)
        if not CLUSTER:  # there the mail is in PostgreSQL; the Maildir was only copied
            md = self.env.maildir("alice")
            files = os.listdir(os.path.join(md, "new")) + os.listdir(os.path.join(md, "cur"))
            self.assertEqual(len(files), len(self.names) - 1)

    @unittest.skipIf(CLUSTER, "looks at Maildir files; on PostgreSQL seen is a column")
    def test_retrieved_messages_move_to_cur_as_seen(self):
        c = self.connect()
        c.retr(1)
        c.quit()
        md = self.env.maildir("alice")
        cur = os.listdir(os.path.join(md, "cur"))
        self.assertEqual(len(cur), 1)
        self.assertTrue(cur[0].endswith(":2,S"), cur[0])
        self.assertEqual(len(os.listdir(os.path.join(md, "new"))), len(self.names) - 1)

    def test_second_session_gets_in_use(self):
        c = self.connect()
        d = poplib.POP3("127.0.0.1", self.server.pop3)
        d.user("alice")
        with self.assertRaises(poplib.error_proto) as err:
            d.pass_(self.env.users["alice"])
        self.assertIn(b"[IN-USE]", err.exception.args[0])
        c.quit()
        d.user("alice")
        d.pass_(self.env.users["alice"])  # free after QUIT
        d.file.close()
        d.sock.close()
        e = self.connect_after_drop()  # and after a dropped connection
        e.quit()

    def test_snapshot_excludes_mail_delivered_during_session(self):
        c = self.connect()
        self.env.deliver("alice", b"Subject: late\n\nlate\n")
        self.assertEqual(c.stat()[0], len(self.names))
        c.quit()
        c = self.connect()
        self.assertEqual(c.stat()[0], len(self.names) + 1)
        c.quit()

    def test_wrong_password_and_unknown_user_look_the_same(self):
        replies = []
        for user, pw in (("alice", "wrong"), ("nobody", "wrong")):
            c = poplib.POP3("127.0.0.1", self.server.pop3)
            c.user(user)
            with self.assertRaises(poplib.error_proto) as err:
                c.pass_(pw)
            replies.append(err.exception.args[0])
            c.quit()
        self.assertEqual(replies[0], replies[1])
        self.assertTrue(replies[0].startswith(b"-ERR [AUTH]"))

    def test_domain_user_maps_to_template(self):
        self.env.deliver("bob@example.com", b"Subject: bob\n\nhi\n")
        c = self.connect(user="bob@example.com")
        self.assertEqual(c.stat()[0], 1)
        c.quit()

    def test_capa(self):
        c = poplib.POP3("127.0.0.1", self.server.pop3)
        caps = c.capa()
        for cap in ("TOP", "UIDL", "USER", "SASL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
                    "STLS", "IMPLEMENTATION"):
            self.assertIn(cap, caps)
        self.assertEqual(caps["SASL"], ["PLAIN", "LOGIN", "SCRAM-SHA-256"])
        c.stls(tls_context(self.env))
        self.assertNotIn("STLS", c.capa())
        c.quit()


if __name__ == "__main__":
    run_tests()
