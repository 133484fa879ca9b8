"""RETR and TOP of messages bigger than the output bound and the disk block:
the bytes on the wire are exact (CRLF, dot-stuffing, terminator) whatever
falls on a block boundary, over plain TCP and TLS, from the page cache and
from the disk (the pool path), and the reply leaves the next one intact."""

import os
import socket
import ssl
import threading
import time
import unittest

import harness

BLOCK = 128 * 1024  # limits::message_chunk


def stuffed(stored: bytes) -> bytes:
    """The body of the multi-line reply RETR must send for `stored`."""
    wire = harness.wire_form(stored)
    lines = wire.split(b"\r\n")[:-1] if wire else []
    return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines) + b".\r\n"


def top_body(stored: bytes, n: int) -> bytes:
    """The body TOP msg n must send: the header, the blank line, n lines."""
    lines = harness.wire_form(stored).split(b"\r\n")[:-1]
    blank = lines.index(b"")
    kept = lines[: blank + 1 + n]
    return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in kept) + b".\r\n"


def place(buf: bytearray, offset: int, data: bytes):
    buf[offset : offset + len(data)] = data


def big_lf_message() -> bytes:
    """About 1.2 MB with LF line ends and the awkward cases on block edges."""
    body = bytearray()
    i = 0
    while len(body) < 1_200_000:
        body += b"line %d of the body, some text to make it longer\n" % i
        i += 1
    head = b"From: a@example.com\nSubject: big\n\n"
    msg = bytearray(head) + body
    place(msg, BLOCK - 1, b"\r\n")             # CRLF cut by the first block edge
    place(msg, 2 * BLOCK - 1, b"\n.")           # "\n." split across blocks
    place(msg, 3 * BLOCK - 2, b"\n.\r")         # a dot line whose CR ends a block
    place(msg, 4 * BLOCK - 1, b"\r")            # a lone CR at a block end
    place(msg, 4 * BLOCK, b"x")
    place(msg, 5 * BLOCK - 3, b"\n..\n")        # an already doubled dot line
    place(msg, 256 * 1024 - 1, b"\n.")          # at the output bound (stored offset)
    return bytes(msg) + b"a last line without a newline"


def big_crlf_message() -> bytes:
    lines = [b"Subject: crlf", b""]
    for i in range(12_000):
        lines.append(b"." if i % 97 == 0 else b".leading dot %d" % i if i % 89 == 0 else
                     b"ordinary line %d with some words in it" % i)
    return b"\r\n".join(lines) + b"\r\n"


class RetrStream(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = harness.Env(users={"big": "pw"})
        cls.messages = [big_lf_message(), big_crlf_message()]
        cls.paths = [cls.env.deliver("big", m) for m in cls.messages]
        cls.server = cls.env.start()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def connect(self, tls):
        if not tls:
            c = harness.LineClient(self.server.pop3)
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            raw = socket.create_connection(("127.0.0.1", self.server.pop3s), timeout=20)
            c = harness.LineClient(sock=ctx.wrap_socket(raw))
        self.assertTrue(c.cmd("USER big").startswith(b"+OK"))
        self.assertTrue(c.cmd("PASS pw").startswith(b"+OK"))
        return c

    def body(self, c, size):
        """Exactly `size` bytes of reply body, then proof that the next reply
        starts right after it."""
        while len(c.buf) < size:
            chunk = c.sock.recv(1 << 20)
            if not chunk:
                raise EOFError(len(c.buf))
            c.buf += chunk
        data, c.buf = c.buf[:size], c.buf[size:]
        self.assertEqual(c.cmd("NOOP"), b"+OK")
        return data

    def open_message(self, path):
        """The message file, wherever it is now (a QUIT after RETR moved it
        to cur/ with a flag suffix), open for reading."""
        base = os.path.basename(path)
        md = os.path.dirname(os.path.dirname(path))
        found = [os.path.join(md, d, f) for d in ("new", "cur")
                 for f in os.listdir(os.path.join(md, d)) if f.split(":")[0] == base]
        self.assertEqual(len(found), 1, found)
        fd = os.open(found[0], os.O_RDONLY)
        os.fsync(fd)
        return fd

    def check_retr(self, tls, cold):
        with self.connect(tls) as c:
            for n, (msg, path) in enumerate(zip(self.messages, self.paths), start=1):
                stop = threading.Event()
                evictor = None
                if cold:
                    # Its pages dropped before and again and again during the
                    # reply, so page-cache reads miss and blocks come from the
                    # pool while output is written.
                    fd = self.open_message(path)
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)

                    def keep_evicting(fd=fd):
                        try:
                            while not stop.is_set():
                                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                                time.sleep(0.0001)
                        finally:
                            os.close(fd)

                    evictor = threading.Thread(target=keep_evicting)
                    evictor.start()
                try:
                    want = stuffed(msg)
                    status = c.cmd(f"RETR {n}")
                    self.assertEqual(status, b"+OK %d octets" % len(harness.wire_form(msg)))
                    got = self.body(c, len(want))
                finally:
                    stop.set()
                    if evictor:
                        evictor.join()
                self.assertEqual(got, want, f"message {n} tls={tls} cold={cold}")
            c.cmd("QUIT")

    def test_retr_plain_from_cache(self):
        self.check_retr(False, False)

    def test_retr_tls_from_cache(self):
        self.check_retr(True, False)

    def test_retr_plain_from_disk(self):
        self.check_retr(False, True)

    def test_retr_tls_from_disk(self):
        self.check_retr(True, True)

    def test_top_stops_after_its_lines_and_pipelining_keeps_order(self):
        with self.connect(False) as c:
            msg = self.messages[0]
            # Pipelined: TOP, RETR and TOP again in one write; each reply whole
            # and in order.
            c.send(b"TOP 1 3\r\nRETR 2\r\nTOP 2 0\r\n")
            self.assertEqual(c.line(), b"+OK")
            want = top_body(msg, 3)
            while len(c.buf) < len(want):
                c.buf += c.sock.recv(1 << 20)
            self.assertEqual(c.buf[: len(want)], want)
            c.buf = c.buf[len(want):]
            self.assertTrue(c.line().startswith(b"+OK"))
            want2 = stuffed(self.messages[1])
            while len(c.buf) < len(want2):
                c.buf += c.sock.recv(1 << 20)
            self.assertEqual(c.buf[: len(want2)], want2)
            c.buf = c.buf[len(want2):]
            self.assertEqual(c.line(), b"+OK")
            self.assertEqual(self.body(c, len(top_body(self.messages[1], 0))),
                             top_body(self.messages[1], 0))
            big_top = c.cmd("TOP 1 100000")
            self.assertEqual(big_top, b"+OK")
            self.assertEqual(self.body(c, len(top_body(msg, 100000))), top_body(msg, 100000))
            c.cmd("QUIT")


if __name__ == "__main__":
    harness.run_tests()
