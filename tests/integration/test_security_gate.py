"""The login gates (failed-login penalty, blocks, auth tickets, limits)
hold for every way of logging in: SCRAM gets no answer a password would
not get, PROXY headers without addresses are not trusted as loopback, and
a connection that failed too often is closed."""

import base64
import hashlib
import os
import socket
import time
import unittest

from harness import Env, run_tests
from test_security_scram import H, Line, b64

TIMEOUT = 20
TEMP = b"-ERR [SYS/TEMP] Temporary server failure, try again later."


def connect(port, source):
    """A POP3 connection to the server from the loopback address `source`."""
    return Line(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT,
                                         source_address=(source, 0)))


def scram_timed(conn, user, password):
    """A SCRAM-SHA-256 exchange; returns (replies, seconds the client-final
    message waited for its answer). Stops at the first refusal."""
    nonce = b64(os.urandom(18))
    bare = f"n={user},r={nonce}"
    r = conn.cmd(f"AUTH SCRAM-SHA-256 {b64('n,,' + bare)}")
    if not r.startswith(b"+ "):
        return [r], 0.0
    server_first = base64.b64decode(r[2:]).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = H(salted, b"Client Key")
    without_proof = f"c=biws,r={attrs['r']}"
    auth_message = f"{bare},{server_first},{without_proof}".encode()
    signature = H(hashlib.sha256(client_key).digest(), auth_message)
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    start = time.monotonic()
    r2 = conn.cmd(b64(f"{without_proof},p={b64(proof)}"))
    waited = time.monotonic() - start
    if not r2.startswith(b"+ "):
        return [r, r2], waited
    return [r, r2, conn.cmd("")], waited


class ScramGateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = Env(users={"alice": "alice-secret", "bob": "bob-secret"},
                      failure_delay="400ms",
                      extra_sections="[limits]\nauth_failures_per_ip = 2\n")
        cls.env.deliver("alice", b"Subject: hi\n\nhello\n")
        cls.server = cls.env.start()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def fail_password(self, conn):
        self.assertEqual(conn.cmd("USER bob"), b"+OK")
        self.assertEqual(conn.cmd("PASS wrong"), b"-ERR [AUTH] Authentication failed.")

    def test_right_proof_is_confirmed_only_after_the_penalty_wait(self):
        c = connect(self.server.pop3, "127.0.0.21")
        self.fail_password(c)
        replies, waited = scram_timed(c, "alice", "alice-secret")
        self.assertTrue(replies[1].startswith(b"+ "), replies)  # the server-final message
        self.assertEqual(replies[2], b"+OK Logged in, 1 messages (22 octets).")
        # One failure from this address: the server signature, which tells the
        # client the password is right, waits as a correct password does.
        self.assertGreaterEqual(waited, 0.35)
        c.cmd("QUIT")
        c.close()

    def test_blocked_address_gets_no_scram_exchange(self):
        c = connect(self.server.pop3, "127.0.0.22")
        self.fail_password(c)
        self.fail_password(c)
        c.close()
        c = connect(self.server.pop3, "127.0.0.22")
        # Blocked: refused before any lookup, no server-first, no proof check.
        replies, _ = scram_timed(c, "alice", "alice-secret")
        self.assertEqual(replies, [TEMP])
        replies, _ = scram_timed(c, "alice", "wrong")
        self.assertEqual(replies, [TEMP])
        c.close()

    def test_pipelined_cancelled_exchanges_end_the_connection(self):
        c = connect(self.server.pop3, "127.0.0.23")
        first = b64("n,,n=nobody,r=" + b64(os.urandom(18)))
        c.sock.sendall(f"AUTH SCRAM-SHA-256 {first}\r\n*\r\n".encode() * 10)
        replies = []
        try:
            while len(replies) < 200:
                replies.append(c.line())
        except EOFError:
            pass
        # Ten cancelled exchanges are ten bad commands: then the server closes.
        cancels = [r for r in replies if r == b"-ERR Authentication cancelled."]
        self.assertEqual(len(cancels), 9, replies)
        self.assertEqual(replies[-1], b"-ERR Too many bad commands, closing.")
        c.close()


if __name__ == "__main__":
    run_tests()
