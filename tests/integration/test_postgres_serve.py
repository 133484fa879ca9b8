"""`popbox serve` with [store] backend = "postgres" on a throwaway PostgreSQL
(pg.py): LMTP delivery keeps one body for two recipients, POP3 reads it
byte-exact, DELE sticks, the maildrop lock is cluster-wide and dies with
its node, and a database outage is a temporary failure that loses nothing.
Users come from the passwd-file ([auth] source = "postgres" is not wired
to the server yet)."""

import os
import poplib
import signal
import smtplib
import subprocess
import unittest

import pg
from harness import POPBOX, Env, LineClient, Server, run_tests, wait_for

MESSAGE = b"Subject: pg\r\nFrom: s@example.org\r\n\r\n.leading dot\r\nline two\r\n"


def pop(server, user, password):
    p = poplib.POP3("127.0.0.1", server.pop3, timeout=10)
    p.user(user)
    p.pass_(password)
    return p


def body_of(lines):
    """RETR's lines after the headers LMTP put in front (Return-Path, ...)."""
    text = b"\r\n".join(lines) + b"\r\n"
    return text[text.index(b"Subject: pg"):]


@unittest.skipUnless(pg.available(), "PostgreSQL is not installed")
class PostgresServeTest(unittest.TestCase):
    def setUp(self):
        self.pg = pg.Postgres()
        self.env = Env(tls=False, extra_sections=(
            '[lmtp]\nlisten = ["127.0.0.1:0"]\n'
            f'[store]\nbackend = "postgres"\ndsn = "{self.pg.dsn}"\npool_size = 4\n'))
        r = subprocess.run([POPBOX, "db", "migrate", "-c", self.env.config],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.server = self.env.start()

    def tearDown(self):
        self.env.close()
        self.pg.close()

    def sql(self, q):
        return self.pg.psql(q, db="popbox")

    def lmtp(self, rcpts):
        """One LMTP transaction; the reply codes after DATA, one per recipient
        (RFC 2033 4.2), or raises SMTPException on a refused RCPT."""
        c = LineClient(self.server.lmtp)
        try:
            c.send(b"LHLO client.test\r\n")
            while not c.line().startswith(b"250 "):
                pass
            self.assertTrue(c.cmd("MAIL FROM:<s@example.org>").startswith(b"250"))
            for r in rcpts:
                reply = c.cmd(f"RCPT TO:<{r}>")
                if not reply.startswith(b"250"):
                    raise smtplib.SMTPException(reply.decode())
            self.assertTrue(c.cmd("DATA").startswith(b"354"))
            c.send(MESSAGE.replace(b"\r\n.", b"\r\n..") + b".\r\n")
            codes = [c.line() for _ in rcpts]
            failed = [x for x in codes if not x.startswith(b"250")]
            if failed:
                raise smtplib.SMTPException(failed[0].decode())
            return {}
        finally:
            c.close()

    def test_deliver_read_delete_and_the_lock(self):
        self.assertEqual(self.lmtp(["alice", "bob@example.com"]), {})
        self.assertEqual(self.sql("SELECT count(*) FROM bodies"), "1")
        self.assertEqual(self.sql("SELECT count(*) FROM messages"), "2")

        p = pop(self.server, "alice", "alice-secret")
        count, octets = p.stat()
        self.assertEqual(count, 1)
        _, lines, size = p.retr(1)
        self.assertEqual(body_of(lines), MESSAGE)
        self.assertEqual(size, octets)
        with self.assertRaises(poplib.error_proto) as cm:
            pop(self.server, "alice", "alice-secret")
        self.assertIn(b"[IN-USE]", cm.exception.args[0])
        p.dele(1)
        p.quit()

        p = pop(self.server, "alice", "alice-secret")
        self.assertEqual(p.stat(), (0, 0))
        p.quit()
        p = pop(self.server, "bob@example.com", "bob secret")
        self.assertEqual(p.stat()[0], 1)
        self.assertEqual(body_of(p.retr(1)[1]), MESSAGE)
        p.quit()
        self.assertEqual(self.sql("SELECT count(*) FROM bodies"), "1")  # bob's still

    def test_a_killed_node_frees_its_locks(self):
        self.lmtp(["alice"])
        p = pop(self.server, "alice", "alice-secret")
        self.server.kill(signal.SIGKILL)
        self.server.proc.wait()
        p.sock.close()
        self.server = self.env.server = Server(self.env.config)

        def login():
            try:
                q = pop(self.server, "alice", "alice-secret")
            except poplib.error_proto as e:
                self.assertIn(b"[IN-USE]", e.args[0])
                return False
            self.assertEqual(q.stat()[0], 1)
            q.quit()
            return True
        wait_for(login, timeout=20, what="login after the node's kill -9")

    def test_a_database_outage_is_temporary_and_loses_nothing(self):
        self.lmtp(["bob@example.com"])
        self.pg.stop()
        with self.assertRaises(poplib.error_proto) as cm:
            pop(self.server, "alice", "alice-secret")
        self.assertIn(b"[SYS/TEMP]", cm.exception.args[0])
        with self.assertRaises(smtplib.SMTPException) as cm:
            self.lmtp(["alice"])
        self.assertIn("451", str(cm.exception))

        self.pg.start()
        self.assertEqual(self.lmtp(["alice"]), {})
        p = pop(self.server, "alice", "alice-secret")
        self.assertEqual(p.stat()[0], 1)
        self.assertEqual(body_of(p.retr(1)[1]), MESSAGE)
        p.quit()
        p = pop(self.server, "bob@example.com", "bob secret")
        self.assertEqual(p.stat()[0], 1)
        p.quit()


if __name__ == "__main__":
    run_tests()
