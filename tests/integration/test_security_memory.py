"""Pipelined input must not amplify into server memory.

The attack: 40 connections each pipeline 64 KiB of CAPA and never read, and
one logged-in connection pipelines 3,000 UIDL on a 1,000-message maildrop and
never reads. Before output was bounded, the server answered every buffered
line before writing anything and grew by about 106 MB. Now each connection
holds at most limits::max_pending_output of unsent replies and reads nothing
more until the peer takes them, so the growth stays small; when the peers do
read, every reply arrives byte-exact and in order, and a normal client is
served meanwhile.
"""

import os
import poplib
import socket
import sys
import threading
import time
import unittest

from harness import MESSAGES, Env, RssSampler, run_tests, vm_rss_kib, wire_form

poplib._MAXLINE = 1 << 20  # the default 2048 cannot take a 6,000-octet line

ATTACKERS = 40
CAPA_BYTES = 64 * 1024
UIDL_COMMANDS = 3000
BOX_MESSAGES = 1000
RSS_GROWTH_LIMIT_KIB = 20 * 1024  # it was about 106 MB before the bound
IO_TIMEOUT = 60


def connect(port, source):
    """A client socket from `source` (127.0.0.x) with small buffers, so a
    peer that does not read fills up quickly and the kernel holds little of
    what the server does not take."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
    s.settimeout(IO_TIMEOUT)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def send_some(s, data, deadline=5.0):
    """Sends as much of `data` as the peer accepts within `deadline` seconds
    (a server that stops reading makes sendall block); returns bytes sent."""
    s.settimeout(0.2)
    sent, end = 0, time.time() + deadline
    while sent < len(data) and time.time() < end:
        try:
            sent += s.send(data[sent:])
        except socket.timeout:
            pass
    s.settimeout(IO_TIMEOUT)
    return sent


class Reader:
    """Reads a socket and checks it carries exactly `unit` repeated, then
    `tail`, then EOF - without holding it all in memory."""

    def __init__(self, s):
        self.s = s
        self.pending = bytearray()

    def take(self, n):
        while len(self.pending) < n:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise AssertionError(f"EOF with {len(self.pending)} of {n} bytes")
            self.pending += chunk
        out = bytes(self.pending[:n])
        del self.pending[:n]
        return out

    def line(self):
        while b"\n" not in self.pending:
            chunk = self.s.recv(65536)
            if not chunk:
                raise AssertionError("EOF before a line")
            self.pending += chunk
        return self.take(self.pending.index(b"\n") + 1)

    def expect_repeated(self, unit, count):
        """True when the next count * len(unit) bytes are `unit` each time."""
        for i in range(count):
            got = self.take(len(unit))
            if got != unit:
                raise AssertionError(f"reply {i} differs: {got[:80]!r}...")

    def expect_eof(self):
        rest = self.pending + self.s.recv(65536)
        if rest:
            raise AssertionError(f"bytes after the last reply: {rest[:80]!r}")


class PipelinedAmplificationTest(unittest.TestCase):
    def setUp(self):
        self.env = Env()
        self.addCleanup(self.env.close)
        for i in range(BOX_MESSAGES):
            self.env.deliver("alice", b"Subject: m%d\n\nbody %d\n" % (i, i))
        self.bob_messages = [MESSAGES[name] for name in MESSAGES]
        for data in self.bob_messages:
            self.env.deliver("bob@example.com", data)
        self.server = self.env.start()
        self.pid = self.server.proc.pid
        self.port = self.server.pop3
        self.sockets = []
        self.addCleanup(lambda: [s.close() for s in self.sockets])

    def pop(self, user):
        c = poplib.POP3("127.0.0.1", self.port, timeout=IO_TIMEOUT)
        c.user(user)
        c.pass_(self.env.users[user])
        return c

    def raw_reply(self, sock_cmd):
        """The exact bytes the server answers to one multi-line command."""
        s = connect(self.port, "127.0.0.1")
        r = Reader(s)
        r.line()  # greeting
        out = b""
        for line in sock_cmd[:-1]:
            s.sendall(line)
            r.line()
        s.sendall(sock_cmd[-1])
        while not out.endswith(b"\r\n.\r\n"):
            out += r.line()
        s.sendall(b"QUIT\r\n")
        s.close()
        return out

    def check_bob(self):
        """A normal client: every message byte-exact, clean QUIT."""
        c = self.pop("bob@example.com")
        count, _ = c.stat()
        self.assertEqual(count, len(self.bob_messages))
        for i, stored in enumerate(self.bob_messages, 1):
            _, lines, octets = c.retr(i)
            want = wire_form(stored)
            self.assertEqual(octets, len(want), f"message {i}")
            self.assertEqual(b"".join(x + b"\r\n" for x in lines), want, f"message {i}")
        self.assertTrue(c.quit().startswith(b"+OK"))

    def test_pipelined_capa_and_uidl_do_not_grow_server(self):
        capa = self.raw_reply([b"CAPA\r\n"])
        uidl = self.raw_reply([b"USER alice\r\n", b"PASS alice-secret\r\n", b"UIDL\r\n"])
        self.assertTrue(uidl.startswith(b"+OK Unique-ID listing follows\r\n"))
        self.assertEqual(uidl.count(b"\r\n"), BOX_MESSAGES + 2)
        self.check_bob()  # warm up: allocator arenas, the thread pool
        time.sleep(0.2)
        base = vm_rss_kib(self.pid)
        sampler = RssSampler(self.pid)
        sampler.start()
        try:
            # 40 strangers, each from its own address (a per-address limit
            # must not be what stops them), 64 KiB of CAPA, no reading.
            capa_count = CAPA_BYTES // len(b"CAPA\r\n")
            capa_sent = []
            for i in range(ATTACKERS):
                s = connect(self.port, f"127.0.0.{i + 2}")
                self.sockets.append(s)
                capa_sent.append(send_some(s, b"CAPA\r\n" * capa_count))
            # One logged-in client: 3,000 UIDL of 1,000 messages, no reading.
            u = connect(self.port, "127.0.0.100")
            self.sockets.append(u)
            ur = Reader(u)
            ur.line()
            u.sendall(b"USER alice\r\nPASS alice-secret\r\n")
            self.assertEqual(ur.line(), b"+OK\r\n")
            self.assertTrue(ur.line().startswith(b"+OK Logged in"))
            uidl_sent = send_some(u, b"UIDL\r\n" * UIDL_COMMANDS)
            time.sleep(2.0)  # the server answers until its output bound, then waits
            during = vm_rss_kib(self.pid)
            # A normal client is served while all of that is pending.
            self.check_bob()
        finally:
            peak = sampler.stop()
        growth = peak - base
        sanitized = bool(os.environ.get("POPBOX_SANITIZED"))
        print(f"\n  VmRSS before {base} KiB, during {during} KiB, peak {peak} KiB, "
              f"growth {growth} KiB (bound {RSS_GROWTH_LIMIT_KIB} KiB"
              f"{', not checked: sanitizer build' if sanitized else ''}); "
              f"CAPA bytes accepted per connection min {min(capa_sent)} max {max(capa_sent)} "
              f"of {capa_count * 6}; UIDL bytes accepted {uidl_sent} of {UIDL_COMMANDS * 6}",
              file=sys.stderr)
        if not sanitized:  # ASan's shadow memory costs tens of MiB
            self.assertLess(growth, RSS_GROWTH_LIMIT_KIB,
                            f"VmRSS {base} -> {peak} KiB under pipelined amplification")

        # Now the peers read: every reply byte-exact, in order, then QUIT.
        started = time.time()
        u.settimeout(IO_TIMEOUT)
        send_rest = threading.Thread(
            target=lambda: u.sendall((b"UIDL\r\n" * UIDL_COMMANDS)[uidl_sent:] + b"QUIT\r\n"),
            daemon=True)
        send_rest.start()
        ur.expect_repeated(uidl, UIDL_COMMANDS)
        self.assertEqual(ur.line(), b"+OK Logging out.\r\n")
        send_rest.join(IO_TIMEOUT)
        ur.expect_eof()
        for i, s in enumerate(self.sockets[:ATTACKERS]):
            rest = (b"CAPA\r\n" * capa_count)[capa_sent[i]:] + b"QUIT\r\n"
            t = threading.Thread(target=lambda s=s, rest=rest: s.sendall(rest), daemon=True)
            t.start()
            r = Reader(s)
            self.assertTrue(r.line().startswith(b"+OK pop.test POP3 server ready"))
            r.expect_repeated(capa, capa_count)
            self.assertEqual(r.line(), b"+OK Logging out.\r\n")
            t.join(IO_TIMEOUT)
            r.expect_eof()
        print(f"  drained {ATTACKERS} CAPA connections ({capa_count} replies each) and "
              f"{UIDL_COMMANDS} UIDL listings ({len(uidl)} octets each) in "
              f"{time.time() - started:.1f} s; VmRSS after {vm_rss_kib(self.pid)} KiB",
              file=sys.stderr)
        self.check_bob()


class LmtpPipelinedAmplificationTest(unittest.TestCase):
    """LMTP peers are trusted more, but a stuck one must not grow the server
    either: LHLO answers ten times its size; a peer that pipelines LHLO and
    does not read gets nothing more read from it until it does."""

    PEERS = 3
    LHLO_BYTES = 4 * 1024 * 1024

    def setUp(self):
        self.env = Env(extra_sections='[lmtp]\nlisten = ["127.0.0.1:0"]\n')
        self.addCleanup(self.env.close)
        self.server = self.env.start()
        self.pid = self.server.proc.pid
        self.sockets = []
        self.addCleanup(lambda: [s.close() for s in self.sockets])

    def test_pipelined_lhlo_is_not_read_while_replies_are_pending(self):
        probe = connect(self.server.lmtp, "127.0.0.1")
        pr = Reader(probe)
        greeting = pr.line()
        probe.sendall(b"LHLO x\r\n")
        lhlo = b""
        while not lhlo.endswith(b"\r\n") or lhlo.split(b"\r\n")[-2][3:4] != b" ":
            lhlo += pr.line()
        probe.sendall(b"QUIT\r\n")
        self.assertTrue(pr.line().startswith(b"221 "))
        probe.close()
        base = vm_rss_kib(self.pid)
        count = self.LHLO_BYTES // len(b"LHLO x\r\n")
        data = b"LHLO x\r\n" * count
        sent = []
        sampler = RssSampler(self.pid)
        sampler.start()
        try:
            for _ in range(self.PEERS):
                s = connect(self.server.lmtp, "127.0.0.1")
                self.sockets.append(s)
                sent.append(send_some(s, data, deadline=3.0))
            time.sleep(1.0)
        finally:
            peak = sampler.stop()
        print(f"\n  LMTP: VmRSS before {base} KiB, peak {peak} KiB, growth {peak - base} KiB; "
              f"LHLO bytes accepted per peer min {min(sent)} max {max(sent)} of {len(data)}",
              file=sys.stderr)
        # The server stopped reading: most of the pipeline was never taken.
        self.assertLess(max(sent), len(data) // 2)
        if not os.environ.get("POPBOX_SANITIZED"):
            self.assertLess(peak - base, RSS_GROWTH_LIMIT_KIB)
        for i, s in enumerate(self.sockets):
            t = threading.Thread(target=lambda s=s, rest=data[sent[i]:] + b"QUIT\r\n":
                                 s.sendall(rest), daemon=True)
            t.start()
            r = Reader(s)
            self.assertEqual(r.line(), greeting)
            r.expect_repeated(lhlo, count)
            self.assertTrue(r.line().startswith(b"221 2.0.0 "))
            t.join(IO_TIMEOUT)
            r.expect_eof()


if __name__ == "__main__":
    run_tests()
