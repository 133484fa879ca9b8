"""popbox nodes on one PostgreSQL behind HAProxy (cluster.py): HAProxy's
PROXY v2 header names the real client, any node serves and accepts mail for
any user, the maildrop lock holds across nodes and dies with its node, and a
PostgreSQL restart under load gives temporary failures only and loses
nothing."""

import poplib
import re
import signal
import socket
import ssl
import threading
import time
import unittest

import cluster
from harness import Env, run_tests, wait_for

SENDER = "s@example.org"


def message(n):
    """Test message `n`: CRLF, a line that needs dot-stuffing, a unique
    Subject to find it by."""
    return f"Subject: m{n}\r\nFrom: {SENDER}\r\n\r\n.leading dot {n}\r\nline two\r\n".encode()


def stored(rcpt, n):
    """What RETR returns for message(n) delivered to `rcpt` over LMTP."""
    return f"Return-Path: <{SENDER}>\r\nDelivered-To: {rcpt}\r\n".encode() + message(n)


def lmtp(port, rcpts, n):
    """Sends message(n) to `rcpts`; the replies (cluster.lmtp)."""
    return cluster.lmtp(port, rcpts, message(n), sender=SENDER)


class SourcePOP3(poplib.POP3):
    """poplib.POP3 connecting from a chosen local address."""

    def __init__(self, port, source):
        self.source = source
        try:
            super().__init__("127.0.0.1", port, timeout=20)
        except BaseException:
            if getattr(self, "sock", None):  # closed before the greeting
                self.close()
            raise

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, (self.source, 0))


def login(port, user, password, source="127.0.0.1", tls=None):
    """A logged-in poplib session on `port` (from `source`, over TLS with
    the `tls` context)."""
    if tls:
        p = poplib.POP3_SSL("127.0.0.1", port, context=tls, timeout=20)
    else:
        p = SourcePOP3(port, source)
    try:
        p.user(user)
        p.pass_(password)
    except BaseException:
        p.close()
        raise
    return p


def retr(p, i):
    return b"".join(line + b"\r\n" for line in p.retr(i)[1])


def uidls(p):
    return [line.split()[1] for line in p.uidl()[1]]


def drop(p):
    """Closes a session without QUIT."""
    p.file.close()
    p.sock.close()


@unittest.skipIf(cluster.available(), cluster.available())
class ClusterCase(unittest.TestCase):
    nodes = 2

    def setUp(self):
        self.env = Env(cluster=True)
        self.env.cluster_nodes = self.nodes
        self.front = self.env.start()
        self.cluster = self.env.cluster
        self.alice = ("alice", self.env.users["alice"])
        self.bob = ("bob@example.com", self.env.users["bob@example.com"])

    def tearDown(self):
        self.env.close()

    def direct(self, i, user):
        """A session on node `i` itself, not through HAProxy."""
        return login(self.cluster.nodes[i].pop3, *user, source=cluster.DIRECT_SOURCE)

    def deliver(self, rcpts, n, port=None):
        replies = lmtp(port or self.front.lmtp, rcpts, n)
        self.assertTrue(all(r.startswith(b"250") for r in replies), replies)


class ClusterTest(ClusterCase):
    def test_users_come_from_the_users_table(self):
        # Seeded from the passwd-file by `popbox user add --db` (cluster.py).
        self.assertEqual(self.cluster.pg.psql("SELECT name FROM users ORDER BY name",
                                              db="popbox").split(), ["alice", "bob@example.com"])
        # A user added on one node's config logs in on every node at once.
        self.cluster.popbox("user", "add", "--db", "-c", self.cluster.configs[1],
                            "--password-stdin", "erin", stdin="erin pw\n")
        for i in range(self.nodes):
            self.direct(i, ("erin", "erin pw")).quit()
        login(self.front.pop3, "erin", "erin pw").quit()
        self.cluster.popbox("user", "del", "--db", "-c", self.cluster.configs[0], "erin")
        # Cached logins last until [auth] cache_ttl (as Dovecot's
        # auth_cache_ttl) or a reload, which empties the cache.
        self.front.kill(signal.SIGHUP)
        for n in self.cluster.nodes:
            wait_for(lambda: "what=users result=ok" in n.log_text(), timeout=10,
                     what="the nodes' reload")
        for i in range(self.nodes):
            with self.assertRaises(poplib.error_proto) as cm:
                self.direct(i, ("erin", "erin pw"))
            self.assertIn(b"[AUTH]", cm.exception.args[0])

    def test_the_node_sees_the_real_client(self):
        p = login(self.front.pop3, *self.alice, source="127.0.0.2")
        port = p.sock.getsockname()[1]
        sessions = [s for i in range(self.nodes) for s in self.cluster.who(i)]
        self.assertEqual([s["peer"] for s in sessions], [f"127.0.0.2:{port}"])
        self.assertEqual(sessions[0]["user"], "alice")
        p.quit()
        self.assertRegex(self.front.log_text(),
                         rf"event=connect peer=127\.0\.0\.2:{port} tls=no proxy=127\.0\.0\.1:")

    def test_every_node_serves_every_user(self):
        # Over HAProxy (round robin: both nodes take some) and to each node.
        for n in range(4):
            self.deliver(["alice", "bob@example.com"], n)
        for i, node in enumerate(self.cluster.nodes):
            self.deliver(["alice"], 10 + i, port=node.lmtp)
        want = [stored("alice", n) for n in (0, 1, 2, 3, 10, 11)]
        seen = []
        ctx = ssl.create_default_context(cafile=self.env.cert)
        ctx.check_hostname = False
        ways = [lambda: self.direct(0, self.alice), lambda: self.direct(1, self.alice),
                lambda: login(self.front.pop3, *self.alice),
                lambda: login(self.front.pop3s, *self.alice, tls=ctx)]
        for way in ways:
            p = way()
            self.assertEqual(p.stat(), (len(want), sum(map(len, want))))
            self.assertEqual([retr(p, i + 1) for i in range(len(want))], want)
            seen.append(uidls(p))
            p.quit()
        self.assertEqual(len(set(seen[0])), len(want))
        self.assertEqual(seen, [seen[0]] * len(ways))
        p = self.direct(1, self.bob)
        self.assertEqual([retr(p, i + 1) for i in range(4)],
                         [stored("bob@example.com", n) for n in range(4)])
        p.quit()
        self.assertEqual(self.cluster.pg.psql("SELECT count(*) FROM bodies", db="popbox"), "6")

    def test_a_second_login_on_another_node_is_in_use(self):
        self.deliver(["alice"], 1)
        p = self.direct(0, self.alice)
        for attempt in (lambda: self.direct(1, self.alice),
                        lambda: login(self.front.pop3, *self.alice)):
            with self.assertRaises(poplib.error_proto) as cm:
                attempt()
            self.assertIn(b"[IN-USE]", cm.exception.args[0])
        p.quit()
        p = self.direct(1, self.alice)
        self.assertEqual(p.stat()[0], 1)
        p.quit()


class KilledNodeTest(ClusterCase):
    nodes = 3

    def holder(self):
        """The index of the node that holds the one live session."""
        holders = [i for i in range(self.nodes) if self.cluster.who(i)]
        self.assertEqual(len(holders), 1)
        return holders[0]

    def test_kill_9_of_the_sessions_node(self):
        for n in range(3):
            self.deliver(["alice"], n)
        want = [stored("alice", n) for n in range(3)]
        p = login(self.front.pop3, *self.alice)
        before = uidls(p)
        p.dele(1)
        p.dele(2)
        dead = self.holder()
        self.cluster.nodes[dead].kill(signal.SIGKILL)
        self.cluster.nodes[dead].proc.wait()
        drop(p)

        def next_login():
            try:
                return login(self.front.pop3, *self.alice)
            except poplib.error_proto as e:
                self.assertIn(b"[IN-USE]", e.args[0])  # the lock going away
            except (OSError, EOFError):
                pass  # HAProxy had not seen the node die yet
            return None
        started = time.monotonic()
        p = wait_for(next_login, timeout=10, what="a login after the node's kill -9")
        self.assertLess(time.monotonic() - started, 10)
        self.assertEqual(uidls(p), before)  # the DELEs died with the session
        self.assertEqual([retr(p, i + 1) for i in range(3)], want)
        p.dele(2)
        p.quit()
        self.cluster.wait_down(dead)
        for i in range(self.nodes):
            if i != dead:
                q = self.direct(i, self.alice)
                self.assertEqual(uidls(q), [before[0], before[2]])
                self.assertEqual([retr(q, 1), retr(q, 2)], [want[0], want[2]])
                q.quit()


class Load(threading.Thread):
    """Runs `step` until stopped; records its outcomes."""

    def __init__(self, step):
        super().__init__(daemon=True)
        self.step = step
        self.stopped = threading.Event()
        self.outcomes = []  # "ok", or what went wrong (all of them allowed kinds)
        self.wrong = []  # anything that must never happen

    def run(self):
        while not self.stopped.is_set():
            try:
                self.outcomes.append(self.step())
            except AssertionError as e:
                self.wrong.append(str(e))
            except (OSError, EOFError) as e:
                self.outcomes.append(f"closed: {e!r}")  # refused or cut: allowed
            except poplib.error_proto as e:
                reply = e.args[0] if isinstance(e.args[0], bytes) else e.args[0].encode()
                # poplib says "-ERR EOF" (a str) when the server closed.
                allowed = b"[SYS/TEMP]" in reply or reply == b"-ERR EOF"
                (self.outcomes if allowed else self.wrong).append(repr(reply))
            except Exception as e:  # a reply that does not parse is a wrong answer too
                self.wrong.append(repr(e))
            time.sleep(0.02)

    def stop(self):
        self.stopped.set()
        self.join(60)


class DatabaseRestartTest(ClusterCase):
    def test_postgres_restarted_under_load(self):
        accepted = []  # message numbers LMTP said 250 to
        counter = iter(range(10_000))

        def mail():
            n = next(counter)
            reply = lmtp(self.front.lmtp, ["alice"], n)[0]
            if reply.startswith(b"250"):
                accepted.append(n)
                return "ok"
            assert reply[:1] == b"4", f"LMTP answered {reply!r}"
            return reply.decode()

        def read():
            p = login(self.front.pop3, *self.alice)
            try:
                count, octets = p.stat()
                sizes = [int(line.split()[1]) for line in p.list()[1]]
                assert len(sizes) == count and sum(sizes) == octets, (count, octets, sizes)
                if count:
                    body = retr(p, count)
                    n = int(re.search(rb"Subject: m(\d+)", body).group(1))
                    assert body == stored("alice", n), body
                    assert len(body) == sizes[-1]
                p.quit()
            finally:
                p.close()
            return "ok"

        loads = [Load(mail), Load(read)]
        for t in loads:
            t.start()
        try:
            wait_for(lambda: len(accepted) >= 3, timeout=30, what="mail before the outage")
            self.cluster.pg.stop()
            time.sleep(3)
            self.cluster.pg.start()
            down_until = len(accepted)
            wait_for(lambda: len(accepted) >= down_until + 3, timeout=60,
                     what="LMTP accepting mail after the restart")
            wait_for(lambda: loads[1].outcomes[-3:] == ["ok"] * 3, timeout=60,
                     what="POP3 sessions succeeding after the restart; the last were "
                     f"{loads[1].outcomes[-3:]} {loads[1].wrong[-3:]}")
        finally:
            for t in loads:
                t.stop()
        for t in loads:
            self.assertEqual(t.wrong, [])
        failures = [o for t in loads for o in t.outcomes if o != "ok"]
        self.assertTrue(failures, "the outage was not seen by any client")
        self.assertTrue(all(n.proc.poll() is None for n in self.cluster.nodes))

        p = login(self.front.pop3, *self.alice)
        count = p.stat()[0]
        got = [retr(p, i + 1) for i in range(count)]
        p.quit()
        numbers = [int(re.search(rb"Subject: m(\d+)", b).group(1)) for b in got]
        self.assertEqual(len(numbers), len(set(numbers)), "a message is there twice")
        self.assertLessEqual(set(accepted), set(numbers))
        self.assertEqual(got, [stored("alice", n) for n in numbers])


if __name__ == "__main__":
    run_tests()
