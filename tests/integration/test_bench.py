"""`popbox bench` against a real `popbox serve`: every scenario runs for
about a second and its counts must add up exactly (messages = sessions x
messages per box, octets = the stuffed wire bytes), failures are reported
by reply, --json parses, idle holds what it was asked to. No speed checks."""

import json
import os
import re
import subprocess
import unittest

import harness
from harness import POPBOX, Env

PASSWORD = "bench secret"
USERS = [f"user{i}" for i in range(8)]
# Five messages per user: LF and CRLF ends, dot lines that get stuffed.
BOX = [
    b"Subject: one\n\nhello\n",
    b"Subject: two\r\nX-Dots: yes\r\n\r\n.\r\n..\r\n.dot start\r\n",
    b"Subject: three\n\n" + b"line of text\n" * 300,
    b"Subject: four\n\nno final newline",
    b"Subject: five\nFrom: a@example.com\n\n" + b".x\n" * 50,
]


def stuffed(wire: bytes) -> bytes:
    return re.sub(rb"(^|\r\n)\.", rb"\1..", wire)


def retr_octets(stored: bytes) -> int:
    """Octets of a RETR body as sent, without the final ".\\r\\n"."""
    return len(stuffed(harness.wire_form(stored)))


def top0_octets(stored: bytes) -> int:
    """Octets of a TOP n 0 body: the header and the blank line."""
    wire = harness.wire_form(stored)
    return len(stuffed(wire[: wire.index(b"\r\n\r\n") + 4]))


class BenchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = Env(users={u: PASSWORD for u in USERS + ["empty"]})
        for u in USERS:
            for m in BOX:
                cls.env.deliver(u, m)
        os.makedirs(os.path.join(cls.env.maildir("empty"), "new"), exist_ok=True)
        for d in ("cur", "tmp"):
            os.makedirs(os.path.join(cls.env.maildir("empty"), d), exist_ok=True)
        cls.users_file = os.path.join(cls.env.dir, "bench-users")
        with open(cls.users_file, "w") as f:
            f.write("\n".join(USERS) + "\n")
        cls.server = cls.env.start()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def bench(self, *args, port=None, json_out=True, users=True, password=PASSWORD):
        cmd = [POPBOX, "bench", "--port", str(port or self.server.pop3), "--password", password,
               "--seconds", "1", *args]
        if users:
            cmd += ["--users", self.users_file]
        if json_out:
            cmd.append("--json")
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if not json_out:
            return r.returncode, r.stdout
        self.assertTrue(r.stdout.strip(), r.stderr)
        return r.returncode, json.loads(r.stdout)

    def assert_no_errors(self, j):
        # Eight users for two connections: the bench never puts two of its
        # sessions on one maildrop, so the lock refuses none.
        self.assertEqual(j["errors"], {})

    def test_full_counts_every_message_and_octet(self):
        rc, j = self.bench("--scenario", "full", "--connections", "2")
        self.assertEqual(rc, 0)
        self.assertEqual(j["scenario"], "full")
        self.assertGreater(j["sessions"], 0)
        self.assertEqual(j["messages"], j["sessions"] * len(BOX))
        self.assertEqual(j["bytes"], j["sessions"] * sum(retr_octets(m) for m in BOX))
        self.assert_no_errors(j)
        self.assertEqual(j["latency_ms"]["per"], "session")
        self.assertEqual(j["latency_ms"]["count"], j["sessions"])
        self.assertLessEqual(j["latency_ms"]["p50"], j["latency_ms"]["p99"])
        self.assertLessEqual(j["latency_ms"]["p99"], j["latency_ms"]["p999"])
        self.assertAlmostEqual(j["messages_per_s"] * j["seconds"], j["messages"], delta=1)
        self.assertAlmostEqual(j["mb_per_s"] * j["seconds"] * 1e6, j["bytes"], delta=1000)
        self.assertGreater(j["bench_cpu_s"], 0)

    def test_login_retrieves_nothing(self):
        rc, j = self.bench("--scenario", "login", "--connections", "2")
        self.assertEqual(rc, 0)
        self.assertGreater(j["sessions"], 0)
        self.assertEqual((j["messages"], j["bytes"]), (0, 0))
        self.assert_no_errors(j)

    def test_top_counts_headers_only(self):
        rc, j = self.bench("--scenario", "top", "--connections", "1")
        self.assertEqual(rc, 0)
        self.assertEqual(j["messages"], j["sessions"] * len(BOX))
        self.assertEqual(j["bytes"], j["sessions"] * sum(top0_octets(m) for m in BOX))
        self.assertEqual(j["errors"], {})

    def test_retr_repeats_message_one_in_one_session(self):
        rc, j = self.bench("--scenario", "retr", "--connections", "2")
        self.assertEqual(rc, 0)
        self.assertEqual(j["sessions"], 2)  # each connection: one session all along
        self.assertGreater(j["messages"], 2)
        self.assertEqual(j["bytes"], j["messages"] * retr_octets(BOX[0]))
        self.assertEqual(j["latency_ms"]["per"], "message")
        self.assertEqual(j["latency_ms"]["count"], j["messages"])
        self.assertEqual(j["errors"], {})

    def test_retr_of_an_empty_maildrop_is_an_error(self):
        rc, j = self.bench("--scenario", "retr", "--user", "empty", users=False)
        self.assertNotEqual(rc, 0)
        self.assertEqual(j["sessions"], 0)
        self.assertTrue(any(k.startswith("STAT: empty maildrop") for k in j["errors"]), j)

    def test_wrong_password_shows_the_reply(self):
        rc, j = self.bench("--scenario", "login", "--connections", "2", password="wrong")
        self.assertNotEqual(rc, 0)
        self.assertEqual(j["sessions"], 0)
        self.assertGreater(j["error_count"], 0)
        self.assertEqual(sum(j["errors"].values()), j["error_count"])
        self.assertTrue(all(k.startswith("PASS: -ERR") for k in j["errors"]), j["errors"])

    def test_wrong_password_in_text_output(self):
        rc, out = self.bench("--scenario", "login", "--user", "user0", password="wrong",
                             users=False, json_out=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("sessions=0 ", out)
        self.assertRegex(out, r"\n  PASS: -ERR .* x\d+\n")
        self.assertRegex(out, r"bench_cpu_s=[\d.]+")

    def test_refused_connections_are_counted(self):
        rc, j = self.bench("--scenario", "login", port=harness.free_port())
        self.assertNotEqual(rc, 0)
        self.assertEqual(list(j["errors"]), ["connect: Connection refused"])

    def test_idle_holds_what_was_asked(self):
        rc, j = self.bench("--scenario", "idle", "--idle", "6", "--connections", "3")
        self.assertEqual(rc, 0)
        self.assertEqual(j["idle"], {"wanted": 6, "held": 6})
        self.assertEqual(j["sessions"], 6)
        self.assertEqual(j["errors"], {})
        self.assertGreaterEqual(j["seconds"], 1)

    def test_idle_reports_the_refused_rest(self):
        # Three users for five sessions: the maildrop lock refuses two.
        three = os.path.join(self.env.dir, "three-users")
        with open(three, "w") as f:
            f.write("user0\nuser1\nuser2\n")
        rc, j = self.bench("--scenario", "idle", "--idle", "5", "--users", three, users=False)
        self.assertEqual(rc, 0)
        self.assertEqual(j["idle"], {"wanted": 5, "held": 3})
        self.assertEqual(j["error_count"], 2)
        self.assertEqual(len(j["errors"]), 1)
        self.assertRegex(next(iter(j["errors"])), r"^PASS: -ERR \[IN-USE\]")

    def test_full_over_tls_resumes_sessions(self):
        rc, j = self.bench("--scenario", "full", "--tls", "--connections", "1",
                           port=self.server.pop3s)
        self.assertEqual(rc, 0)
        self.assertTrue(j["tls"])
        self.assertEqual(j["messages"], j["sessions"] * len(BOX))
        self.assertEqual(j["bytes"], j["sessions"] * sum(retr_octets(m) for m in BOX))
        self.assertEqual(j["tls_handshakes"], j["sessions"])
        if j["sessions"] >= 2:
            self.assertGreaterEqual(j["tls_resumed"], 1)

    def test_user_and_users_are_exclusive(self):
        r = subprocess.run([POPBOX, "bench", "--port", str(self.server.pop3), "--password", "x",
                            "--user", "a", "--users", self.users_file],
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("excludes", r.stderr + r.stdout)
        r = subprocess.run([POPBOX, "bench", "--port", str(self.server.pop3), "--password", "x"],
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)


if __name__ == "__main__":
    harness.run_tests()
