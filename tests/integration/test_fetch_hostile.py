"""`popbox fetch` against a hostile or broken POP3 server (a small Python
server on loopback, real sockets): a LIST that lies about sizes, an endless
UIDL, overlong lines, a body that never ends, dot lines that are not the
end of a message, and the run bounds. Asserted: what fetch reports, its
exit code, what it delivers (byte-exact) and what it records."""

import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import unittest

import harness
from fetch_helpers import EX_PROTOCOL, maildir_files, run_fetch, write_config
from harness import run_tests


class HostileServer:
    """Speaks just enough POP3 (USER/PASS, UIDL, LIST, RETR, DELE, QUIT)
    for `popbox fetch`; `messages` is a list of (uidl, listed size, RETR
    payload). A payload is bytes sent after "+OK" as they are (dot-stuffed
    and terminated by the test), or a callable given the socket that sends
    whatever it likes. `uidl_reply` / `list_reply` replace those replies."""

    def __init__(self, messages, uidl_reply=None, list_reply=None, pipelining=False):
        self.messages = messages
        self.pipelining = pipelining
        self.uidl_reply = uidl_reply
        self.list_reply = list_reply
        self.commands = []  # every command of every session, in order
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def close(self):
        self.stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        except OSError:
            pass
        self.sock.close()
        self.thread.join(10)

    def serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(30)
                try:
                    self.session(conn)
                except (OSError, BrokenPipeError):
                    pass

    def session(self, conn):
        f = conn.makefile("rb")
        conn.sendall(b"+OK hostile POP3 ready\r\n")
        while True:
            line = f.readline(1000)
            if not line:
                return
            cmd = line.rstrip(b"\r\n").decode()
            self.commands.append(cmd)
            verb = cmd.split(" ")[0].upper()
            if verb in ("USER", "PASS"):
                conn.sendall(b"+OK\r\n")
            elif verb == "CAPA":
                conn.sendall(b"+OK\r\nUSER\r\nUIDL\r\n"
                             + (b"PIPELINING\r\n" if self.pipelining else b"") + b".\r\n")
            elif verb == "UIDL":
                if self.uidl_reply:
                    self.uidl_reply(conn)
                    continue
                conn.sendall(b"+OK\r\n" + b"".join(
                    b"%d %s\r\n" % (i + 1, m[0].encode()) for i, m in enumerate(self.messages))
                    + b".\r\n")
            elif verb == "LIST":
                if self.list_reply:
                    self.list_reply(conn)
                    continue
                conn.sendall(b"+OK\r\n" + b"".join(
                    b"%d %d\r\n" % (i + 1, m[1]) for i, m in enumerate(self.messages)) + b".\r\n")
            elif verb == "RETR":
                payload = self.messages[int(cmd.split(" ")[1]) - 1][2]
                conn.sendall(b"+OK\r\n")
                if callable(payload):
                    payload(conn)
                    return
                conn.sendall(payload)
            elif verb == "DELE":
                conn.sendall(b"+OK\r\n")
            elif verb == "QUIT":
                conn.sendall(b"+OK bye\r\n")
                return
            else:
                conn.sendall(b"-ERR what\r\n")


def message(subject, body=b"hello\r\n"):
    """A message as it goes on the wire (already ends in CRLF . CRLF)."""
    return b"Subject: " + subject + b"\r\n\r\n" + body + b".\r\n"


class Hostile(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="popbox-hostile-")
        self.config = os.path.join(self.dir, "fetch.toml")
        self.out = os.path.join(self.dir, "out")
        self.server = None

    def tearDown(self):
        if self.server:
            self.server.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, messages, **kw):
        self.server = HostileServer(messages, **kw)

    def fetch(self, fetch_table=None, **extra):
        a = {"name": "bad", "host": "127.0.0.1", "port": self.server.port, "tls": "none",
             "auth": "user", "user": "u", "password": "p", "deliver": "maildir:" + self.out,
             "state_dir": os.path.join(self.dir, "state"), "timeout": "20s", "keep": False}
        a.update(extra)
        write_config(self.config, a)
        if fetch_table:
            with open(self.config) as f:
                text = f.read()
            with open(self.config, "w") as f:
                f.write(fetch_table + "\n" + text)
        return run_fetch(self.config, timeout=180)

    def query(self, sql):
        path = os.path.join(self.dir, "state", "bad.sqlite")
        if not os.path.exists(path):
            return []
        db = sqlite3.connect(path)
        try:
            return list(db.execute(sql))
        finally:
            db.close()

    def recorded(self):
        """uidl -> pending_delete of every message recorded as delivered."""
        return dict(self.query("SELECT uidl, pending_delete FROM uidl"))

    def intents(self):
        return sorted(r[0] for r in self.query("SELECT uidl FROM intent"))

    def test_a_message_growing_past_max_size_is_abandoned_and_left_on_the_server(self):
        for pipelining in (False, True):
            with self.subTest(pipelining=pipelining):
                self.grows_past_max_size(pipelining)
                self.tearDown()
                self.setUp()

    def grows_past_max_size(self, pipelining):
        big = message(b"b", b"x" * 60 + b"\r\n" * 100)
        self.start([("a", 40, message(b"a")), ("b", 40, big), ("c", 40, message(b"c"))],
                   pipelining=pipelining)
        r = self.fetch(max_size=200)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("bad: message 2 (UIDL b) grew past max_size (200 bytes) while downloading, "
                      "LIST said 40 bytes; abandoned, it stays on the server", r.stderr)
        self.assertIn("1 too large left on the server", r.stderr)
        self.assertEqual(sorted(maildir_files(self.out)),
                         [b"Subject: a\n\nhello\n", b"Subject: c\n\nhello\n"])
        self.assertNotIn("DELE 2", self.server.commands)
        self.assertIn("DELE 1", self.server.commands)
        self.assertIn("DELE 3", self.server.commands)
        self.assertEqual(self.server.commands[-1], "QUIT")
        self.assertEqual(self.recorded(), {})  # a and c deleted (QUIT +OK), b never recorded
        self.assertEqual(self.intents(), [])  # nothing for a later run to "recover" as b
        self.assertEqual(os.listdir(os.path.join(self.out, "tmp")), [])

    def test_into_an_mbox_the_grown_message_leaves_no_trace_and_from_names_the_sender(self):
        a = b"Return-Path: <list-bounces@example.org>\r\nSubject: a\r\n\r\nFrom x\r\n.\r\n"
        big = message(b"b", b"x" * 60 + b"\r\n" * 100)
        self.start([("a", 40, a), ("b", 40, big), ("c", 40, message(b"c"))])
        mbox = os.path.join(self.dir, "mbox")
        env = dict(os.environ, POPBOX_FETCH_NOW="1800000000")
        a_cfg = {"name": "bad", "host": "127.0.0.1", "port": self.server.port, "tls": "none",
                 "auth": "user", "user": "u", "password": "p", "deliver": "mbox:" + mbox,
                 "state_dir": os.path.join(self.dir, "state"), "max_size": 200}
        write_config(self.config, a_cfg)
        r = subprocess.run([harness.POPBOX, "fetch", "--config", self.config],
                           capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("grew past max_size", r.stderr)
        with open(mbox, "rb") as f:
            self.assertEqual(f.read(),
                             b"From list-bounces@example.org Fri Jan 15 08:00:00 2027\n"
                             b"Return-Path: <list-bounces@example.org>\nSubject: a\n\n>From x\n\n"
                             b"From MAILER-DAEMON Fri Jan 15 08:00:00 2027\n"
                             b"Subject: c\n\nhello\n\n")
        self.assertEqual(sorted(self.recorded()), ["a", "c"])
        self.assertEqual(self.intents(), [])

    def test_an_endless_uidl_is_cut_off_and_nothing_is_fetched(self):
        def endless(conn):
            conn.sendall(b"+OK\r\n")
            chunk = b"".join(b"%d u%d\r\n" % (i, i) for i in range(1, 10001))
            for _ in range(30):  # 300,000 entries: past the 250,000 bound
                conn.sendall(chunk)
        self.start([("a", 40, message(b"a"))], uidl_reply=endless)
        r = self.fetch()
        self.assertEqual(r.returncode, EX_PROTOCOL, r.stderr)
        self.assertIn("the server's UIDL reply lists more than 250000 messages; nothing was "
                      "fetched", r.stderr)
        self.assertEqual(maildir_files(self.out), [])
        self.assertEqual(self.recorded(), {})
        self.assertNotIn("QUIT", self.server.commands)

    def test_an_overlong_listing_line_is_a_protocol_error(self):
        def long_line(conn):
            conn.sendall(b"+OK\r\n1 " + b"u" * 9000 + b"\r\n.\r\n")
        self.start([("a", 40, message(b"a"))], uidl_reply=long_line)
        r = self.fetch()
        self.assertEqual(r.returncode, EX_PROTOCOL, r.stderr)
        self.assertIn("the server sent a line longer than 8192 bytes", r.stderr)
        self.assertEqual(maildir_files(self.out), [])
        self.assertEqual(self.recorded(), {})

    def test_a_body_that_never_ends_drops_the_connection_and_keeps_what_was_delivered(self):
        def forever(conn):
            line = b"y" * 78 + b"\r\n"
            block = line * 4096
            sent = 0
            while sent < (80 << 20):  # past max_discard (64 MiB) over max_size
                conn.sendall(block)
                sent += len(block)
        self.start([("a", 40, message(b"a")), ("b", 40, forever)])
        r = self.fetch(max_size=1000)
        self.assertEqual(r.returncode, EX_PROTOCOL, r.stderr)
        self.assertIn("message 2 (UIDL b) went on past 67108864 bytes over max_size; the "
                      "connection was dropped", r.stderr)
        self.assertEqual(maildir_files(self.out), [b"Subject: a\n\nhello\n"])
        # a is delivered and recorded (its DELE waits for the next run); b is not.
        self.assertEqual(self.recorded(), {"a": 1})
        self.assertNotIn("QUIT", self.server.commands)
        # The next run deletes a without downloading it again.
        self.server.close()
        self.start([("a", 40, message(b"a"))])
        r = self.fetch(max_size=1000)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.server.commands[-2:], ["DELE 1", "QUIT"])
        self.assertNotIn("RETR 1", self.server.commands)
        self.assertEqual(maildir_files(self.out), [b"Subject: a\n\nhello\n"])

    def test_dot_lines_that_do_not_end_the_message_are_data_byte_exact(self):
        body = b". \r\n..\r\n.x\r\n\n.\nmid\r\n.\n\r\n. .\r\nend\r\n"
        self.start([("a", 40, message(b"dots", body)), ("b", 40, message(b"after"))])
        r = self.fetch()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(maildir_files(self.out)), [
            b"Subject: after\n\nhello\n",
            b"Subject: dots\n\n \n.\nx\n\n.\nmid\n.\n\n .\nend\n"])
        self.assertEqual(self.recorded(), {})

    def test_a_list_that_claims_less_and_a_server_that_ends_mid_message(self):
        def cut(conn):
            conn.sendall(b"Subject: cut\r\n\r\npartial")
        self.start([("a", 1, message(b"a", b"q" * 500 + b"\r\n")), ("b", 1, cut)])
        r = self.fetch()
        self.assertEqual(r.returncode, 75, r.stderr)  # EX_TEMPFAIL: try again later
        self.assertIn("closed the connection in the middle of a message", r.stderr)
        self.assertEqual(maildir_files(self.out), [b"Subject: a\n\n" + b"q" * 500 + b"\n"])
        self.assertEqual(self.recorded(), {"a": 1})

    def test_max_messages_per_run_leaves_the_rest_for_the_next_run(self):
        msgs = [(u, 40, message(u.encode())) for u in ("a", "b", "c")]
        self.start(msgs)
        r = self.fetch(fetch_table="[fetch]\nmax_messages_per_run = 2\n", keep=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("bad: 1 more new message waits for the next run (a run takes at most 2 "
                      "messages", r.stderr)
        self.assertEqual(len(maildir_files(self.out)), 2)
        self.assertNotIn("RETR 3", self.server.commands)
        self.assertEqual(sorted(self.recorded()), ["a", "b"])
        self.server.commands.clear()
        r = self.fetch(fetch_table="[fetch]\nmax_messages_per_run = 2\n", keep=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([c for c in self.server.commands if c.startswith("RETR")], ["RETR 3"])
        self.assertEqual(sorted(maildir_files(self.out)),
                         [b"Subject: %s\n\nhello\n" % u for u in (b"a", b"b", b"c")])


if __name__ == "__main__":
    run_tests()
