"""`popbox fetch` against a real Dovecot (dovecot.py; plaintext on
loopback, so the account says tls = "none"): keep mode fetches nothing the
second time, delete mode empties the server's Maildir, messages arrive
byte-exact as Dovecot serves them, and SIGKILLs during a 300-message
download in delete mode still end with each message exactly once."""

import os
import poplib
import random
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import dovecot
import harness
from fetch_helpers import fetch_retrying, maildir_files, run_fetch, write_config
from harness import MESSAGES, run_tests

# Dovecot quirks (docs/dovecot-differences.md): no 0-byte message and no
# message whose first line starts with '.'.
NAMES = [n for n in MESSAGES if MESSAGES[n] and not MESSAGES[n].startswith(b".")]
PASSWORD = "alice-dovecot"


@unittest.skipUnless(dovecot.available(), "dovecot is not installed (dovecot-pop3d)")
class DovecotBase(unittest.TestCase):
    count = None  # None: the MESSAGES shapes; N: N numbered messages

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="popbox-fetch-dovecot-")
        os.chmod(self.dir, 0o755)  # Dovecot's mail user traverses it
        self.maildir = os.path.join(self.dir, "server")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(self.maildir, sub))
        if self.count is None:
            self.stored = [MESSAGES[n] for n in NAMES]
        else:
            # 8 KB each, so that a download lasts long enough to be cut.
            self.stored = [b"Subject: message %d\nMessage-ID: <%d@dovecot.test>\n\nbody %d\n"
                           % (i, i, i) + (b"x" * 76 + b"\n") * 100 for i in range(self.count)]
        for i, data in enumerate(self.stored):
            path = os.path.join(self.maildir, "new", f"{1700000000 + i}.M{i}P1.test")
            with open(path, "wb") as f:
                f.write(data)
            os.utime(path, (1700000000 + i, 1700000000 + i))
        self.server = dovecot.Dovecot(self.maildir, {"alice": PASSWORD})
        self.out = os.path.join(self.dir, "out")
        self.config = os.path.join(self.dir, "fetch.toml")

    def tearDown(self):
        self.server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, keep):
        write_config(self.config, {
            "name": "dove", "host": "127.0.0.1", "port": self.server.port, "tls": "none",
            "user": "alice", "password": PASSWORD, "keep": keep,
            "deliver": "maildir:" + self.out, "state_dir": os.path.join(self.dir, "state"),
            "timeout": "20s"})

    def served(self):
        """Every message as Dovecot serves it, in the local (LF) form."""
        poplib._MAXLINE = 1 << 20
        p = poplib.POP3("127.0.0.1", self.server.port, timeout=20)
        try:
            p.user("alice")
            p.pass_(PASSWORD)
            n = len(p.list()[1])
            return [b"".join(line + b"\n" for line in p.retr(i)[1]) for i in range(1, n + 1)]
        finally:
            p.quit()

    def server_count(self):
        return sum(len(os.listdir(os.path.join(self.maildir, s))) for s in ("new", "cur"))


class Modes(DovecotBase):
    def test_keep_byte_exact_then_nothing(self):
        want = self.served()
        self.assertEqual(len(want), len(NAMES))
        self.write(keep=True)
        r = run_fetch(self.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"dove: fetched {len(NAMES)} messages", r.stderr)
        self.assertEqual(sorted(maildir_files(self.out)), sorted(want))
        # The dots and the missing final newline came through as served.
        self.assertIn(b"\n..\n.hidden\n", b"".join(want))
        r = run_fetch(self.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("dove: fetched 0 messages", r.stderr)
        self.assertEqual(len(maildir_files(self.out)), len(NAMES))
        self.assertEqual(self.server_count(), len(NAMES))

    def test_delete_empties_the_server(self):
        want = self.served()
        self.write(keep=False)
        r = run_fetch(self.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"deleted {len(NAMES)}", r.stderr)
        self.assertEqual(sorted(maildir_files(self.out)), sorted(want))
        self.assertEqual(self.server_count(), 0)
        r = run_fetch(self.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("dove: fetched 0 messages", r.stderr)


def delivered(maildir):
    """Messages in a Maildir's new/ and cur/, counted without reading them."""
    return sum(len(os.listdir(os.path.join(maildir, sub))) for sub in ("new", "cur")
               if os.path.isdir(os.path.join(maildir, sub)))


class Crash(DovecotBase):
    count = 300

    def test_sigkill_loop_delete_mode_exactly_once(self):
        seed = int(os.environ.get("POPBOX_SEED", time.time()))
        rng = random.Random(seed)
        self.write(keep=False)
        cut = 0  # kills that left messages on the server
        for _ in range(8):
            # Kill once a random share of the messages has arrived, not after
            # a random time: on a quiet machine the whole download can end
            # within any fixed delay.
            target = delivered(self.out) + rng.randint(1, self.count // 2)
            p = subprocess.Popen([harness.POPBOX, "fetch", "--config", self.config],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.time() + 30
            while (p.poll() is None and time.time() < deadline
                   and delivered(self.out) < target):
                time.sleep(0.001)
            p.send_signal(signal.SIGKILL)
            p.wait()
            cut += self.server_count() > 0
        self.assertGreater(cut, 0, f"POPBOX_SEED={seed}: every run ended before its kill")
        # Dovecot sessions of the killed clients may still hold or wait for
        # the maildrop lock; a login now would queue behind them.
        self.server.end_orphaned_sessions()
        r = fetch_retrying(self.config, timeout=180)
        self.assertEqual(r.returncode, 0, f"POPBOX_SEED={seed}: {r.stderr}")
        got = maildir_files(self.out)
        numbers = sorted(int(g.split(b"\n")[0].split()[-1]) for g in got)
        self.assertEqual(numbers, list(range(self.count)), f"POPBOX_SEED={seed}")
        self.assertEqual(self.server_count(), 0)


if __name__ == "__main__":
    run_tests()
