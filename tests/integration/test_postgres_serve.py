"""`popbox serve` with [store] backend = "postgres" on a throwaway PostgreSQL
(pg.py): LMTP delivery keeps one body for two recipients, POP3 reads it
byte-exact, DELE sticks, the maildrop lock is cluster-wide and dies with
its node, and a database outage is a temporary failure that loses nothing.
PostgresServeTest takes its users from the passwd-file; PostgresUsersTest
from the users table ([auth] source = "postgres", `popbox user add --db`),
on two nodes sharing the database."""

import os
import poplib
import signal
import smtplib
import subprocess
import unittest
from base64 import b64encode

import pg
from harness import POPBOX, Env, LineClient, Server, run_tests, wait_for
from test_security_scram import scram

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


@unittest.skipUnless(pg.available(), "PostgreSQL is not installed")
class PostgresUsersTest(unittest.TestCase):
    """Two nodes on one PostgreSQL, users in its users table only."""

    def setUp(self):
        self.pg = pg.Postgres()
        self.env = Env(tls=False, extra_sections=(
            '[lmtp]\nlisten = ["127.0.0.1:0"]\n'
            f'[store]\nbackend = "postgres"\ndsn = "{self.pg.dsn}"\npool_size = 4\n'))
        with open(self.env.config) as f:
            text = f.read().replace("[auth]\n", '[auth]\nsource = "postgres"\n', 1)
        self.configs = [self.env.config, self.env.config.replace(".toml", "-2.toml")]
        for c in self.configs:
            with open(c, "w") as f:
                f.write(text)
        self.env.chown()
        self.popbox("db", "migrate", "-c", self.env.config)
        self.popbox("user", "add", "--db", "-c", self.env.config, "--password-stdin", "carol",
                    "--extra", "userdb_quota_rule=*:messages=50", stdin="carol pw\n")
        self.popbox("user", "add", "--db", "-c", self.env.config, "--password-stdin",
                    "--scheme", "SCRAM-SHA-256", "dave@example.com", stdin="dave pw\n")
        self.nodes = [Server(c) for c in self.configs]

    def tearDown(self):
        for n in self.nodes:
            n.stop()
        self.env.close()
        self.pg.close()

    def popbox(self, *args, stdin=None):
        r = subprocess.run([POPBOX, *args], input=stdin, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def lmtp_rcpt(self, node, rcpt, data=MESSAGE):
        """Delivers `data` to `rcpt` over `node`'s LMTP: the RCPT reply, or
        the reply after DATA when RCPT was accepted."""
        with LineClient(node.lmtp) as c:
            c.send(b"LHLO client.test\r\n")
            while not c.line().startswith(b"250 "):
                pass
            self.assertTrue(c.cmd("MAIL FROM:<s@example.org>").startswith(b"250"))
            reply = c.cmd(f"RCPT TO:<{rcpt}>")
            if not reply.startswith(b"250"):
                return reply
            self.assertTrue(c.cmd("DATA").startswith(b"354"))
            c.send(data.replace(b"\r\n.", b"\r\n..") + b".\r\n")
            return c.line()

    def test_every_node_logs_in_db_users_by_every_mechanism(self):
        for node in self.nodes:
            p = pop(node, "carol", "carol pw")
            self.assertEqual(p.stat(), (0, 0))
            p.quit()
            with self.assertRaises(poplib.error_proto) as cm:
                pop(node, "carol", "wrong")
            self.assertIn(b"[AUTH]", cm.exception.args[0])
            # The passwd-file's users are not the server's any more.
            with self.assertRaises(poplib.error_proto):
                pop(node, "alice", "alice-secret")
            with LineClient(node.pop3) as c:
                plain = b64encode(b"\0carol\0carol pw").decode()
                self.assertTrue(c.cmd(f"AUTH PLAIN {plain}").startswith(b"+OK"))
            with LineClient(node.pop3) as c:
                plain = b64encode(b"\0carol\0nope").decode()
                self.assertTrue(c.cmd(f"AUTH PLAIN {plain}").startswith(b"-ERR [AUTH]"))
            with LineClient(node.pop3) as c:
                reply, _ = scram(c, "dave@example.com", "dave pw")
                self.assertTrue(reply.startswith(b"+OK"), reply)
            with LineClient(node.pop3) as c:
                reply, _ = scram(c, "dave@example.com", "not dave's")
                self.assertTrue(reply.startswith(b"-ERR"), reply)
            p = pop(node, "dave@example.com", "dave pw")  # USER/PASS on a SCRAM secret
            p.quit()

    def test_lmtp_delivers_to_db_users_only(self):
        self.assertTrue(self.lmtp_rcpt(self.nodes[0], "carol").startswith(b"250"))
        self.assertTrue(self.lmtp_rcpt(self.nodes[1], "dave@example.com").startswith(b"250"))
        self.assertTrue(self.lmtp_rcpt(self.nodes[0], "nobody").startswith(b"550"))
        p = pop(self.nodes[1], "carol", "carol pw")  # delivered by the other node
        self.assertEqual(p.stat()[0], 1)
        self.assertEqual(body_of(p.retr(1)[1]), MESSAGE)
        p.quit()

    def test_check_and_deliver_use_the_users_table(self):
        r = subprocess.run([POPBOX, "check", "--config", self.env.config], capture_output=True,
                           text=True, timeout=60)
        self.assertNotIn("users table", r.stderr)
        r = subprocess.run([POPBOX, "deliver", "-c", self.env.config, "-u", "carol"], input=MESSAGE,
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run([POPBOX, "deliver", "-c", self.env.config, "-u", "alice"], input=MESSAGE,
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 67, r.stderr)  # EX_NOUSER: not in the table
        p = pop(self.nodes[0], "carol", "carol pw")
        self.assertEqual(p.stat()[0], 1)
        p.quit()

    def test_a_database_outage_is_temporary_for_logins_and_recipients(self):
        self.pg.stop()
        for node in self.nodes:
            with self.assertRaises(poplib.error_proto) as cm:
                pop(node, "carol", "carol pw")
            self.assertIn(b"[SYS/TEMP]", cm.exception.args[0])
            self.assertTrue(self.lmtp_rcpt(node, "carol").startswith(b"451 4.3.0"))
        r = subprocess.run([POPBOX, "check", "--config", self.env.config], capture_output=True,
                           text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("users table", r.stderr)
        # A node (re)started during the outage comes up, answers [SYS/TEMP],
        # and serves once PostgreSQL is back: a cluster restarted together
        # recovers by itself.
        late = Server(self.configs[1])
        self.nodes.append(late)
        with self.assertRaises(poplib.error_proto) as cm:
            pop(late, "carol", "carol pw")
        self.assertIn(b"[SYS/TEMP]", cm.exception.args[0])

        self.pg.start()
        for node in self.nodes:
            self.assertTrue(self.lmtp_rcpt(node, "carol").startswith(b"250"))
        p = pop(late, "carol", "carol pw")
        self.assertEqual(p.stat()[0], len(self.nodes))  # one per node, the late one's too
        p.quit()


if __name__ == "__main__":
    run_tests()
