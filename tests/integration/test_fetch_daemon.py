"""`popbox fetch --daemon` against `popbox serve`: two accounts polled every
second, mail delivered on the next poll, a failing account backing off
while the other keeps fetching, --jobs 1 serializing runs, SIGHUP adding an
account (and a bad config keeping the old one), SIGTERM in the middle of a
download and SIGKILL loops against the daemon leaving 0 duplicates / 0
lost, `popbox fetch status`, and the systemd user units."""

import fcntl
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from fetch_helpers import account, maildir_files, run_fetch, server_count, write_config  # noqa: E402
from harness import Env, run_tests, wait_for  # noqa: E402

BOB = "bob@example.com"


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def fetch_status(config, *args):
    return subprocess.run([harness.POPBOX, "fetch", "status", "--config", config, *args],
                          capture_output=True, timeout=60, text=True)


def write_daemon_config(path, accounts, poll="1s", daemon=None):
    write_config(path, *accounts)
    head = f'[fetch]\npoll = "{poll}"\n'
    if daemon is not None:
        head += f"daemon = {'true' if daemon else 'false'}\n"
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(head + text)


class Daemon:
    """A running `popbox fetch --daemon`; its stderr goes to a file."""

    def __init__(self, config, *args, flag=True):
        self.log_path = config + ".log"
        self.log = open(self.log_path, "w")
        cmd = [harness.POPBOX, "fetch", "--config", config] + (["--daemon"] if flag else [])
        self.p = subprocess.Popen(cmd + list(args), stdout=self.log, stderr=self.log)

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def runs(self, name, result=None):
        pat = rf"account={re.escape(name)} result=" + (result or r"\w+")
        return re.findall(pat + r"[^\n]*", self.text())

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            rc = self.p.wait(timeout=timeout)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
            self.log.close()
        return rc


class Polling(unittest.TestCase):
    def setUp(self):
        self.env = Env()
        self.env.deliver("alice", b"Subject: a1\n\nfirst for alice\n")
        self.env.deliver(BOB, b"Subject: b1\n\nfirst for bob\n")
        self.env.start()
        self.config = os.path.join(self.env.dir, "fetch.toml")
        self.daemon = None

    def tearDown(self):
        if self.daemon:
            self.daemon.stop(signal.SIGKILL)
        self.env.close()

    def out(self, name):
        return os.path.join(self.env.dir, "out-" + name)

    def subjects(self, name):
        return sorted(m.split(b"\n")[0].decode() for m in maildir_files(self.out(name)))

    def test_two_accounts_mail_arrives_on_the_next_poll(self):
        write_daemon_config(self.config, [account(self.env, "alice", keep=False),
                                          account(self.env, "bob", user=BOB, keep=False)])
        self.daemon = Daemon(self.config)
        wait_for(lambda: self.subjects("alice") == ["Subject: a1"], what="alice's first mail")
        wait_for(lambda: self.subjects("bob") == ["Subject: b1"], what="bob's first mail")
        self.env.deliver("alice", b"Subject: a2\n\nsecond for alice\n")
        self.env.deliver(BOB, b"Subject: b2\n\nsecond for bob\n")
        # poll = 1s (+ at most 10 % jitter): well within 10 s on a loaded machine.
        wait_for(lambda: self.subjects("alice") == ["Subject: a1", "Subject: a2"], timeout=10,
                 what="alice's mail on the next poll")
        wait_for(lambda: self.subjects("bob") == ["Subject: b1", "Subject: b2"], timeout=10,
                 what="bob's mail on the next poll")
        # The run's DELE and QUIT come after the delivery: a SIGTERM between
        # them rightly leaves the DELE to the next run, so wait for them.
        wait_for(lambda: server_count(self.env) == 0 and server_count(self.env, BOB) == 0,
                 timeout=10, what="the second poll's DELEs")
        self.assertEqual(self.daemon.p.poll(), None, self.daemon.text())
        self.assertEqual(self.daemon.stop(), 0, self.daemon.text())
        text = self.daemon.text()
        self.assertRegex(text, r"account=alice result=ok messages=1 bytes=\d+ duration=[\d.]+s "
                               r"next_run=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
        self.assertRegex(text, r"account=bob result=ok messages=1 ")
        self.assertIn("popbox fetch: daemon stopped", text)
        self.assertEqual(server_count(self.env), 0)
        self.assertEqual(server_count(self.env, BOB), 0)

    def test_failing_account_backs_off_while_the_other_keeps_fetching(self):
        dead = account(self.env, "dead", port=closed_port())
        write_daemon_config(self.config, [account(self.env, "alice", keep=False), dead])
        self.daemon = Daemon(self.config)
        time.sleep(1.5)
        self.env.deliver("alice", b"Subject: a2\n\nwhile dead backs off\n")
        wait_for(lambda: len(self.subjects("alice")) == 2, timeout=10, what="alice's mail")
        wait_for(lambda: len(self.daemon.runs("alice", "ok")) >= 6, timeout=30,
                 what="six runs of alice")
        self.assertEqual(self.daemon.stop(), 0, self.daemon.text())
        ok = self.daemon.runs("alice", "ok")
        dead_runs = self.daemon.runs("dead", "error")
        # Backoff 2 s, 4 s, 8 s ... after failures 1, 2, 3: far fewer tries
        # than alice's runs every second.
        self.assertGreaterEqual(len(dead_runs), 2, self.daemon.text())
        self.assertLess(len(dead_runs), len(ok) / 2 + 1, self.daemon.text())
        for i, line in enumerate(dead_runs, 1):
            self.assertIn(f"failures={i} ", line)
            self.assertRegex(line, r'error="cannot connect to 127\.0\.0\.1:\d+: [^"]*refused')
        self.assertTrue(all("failures=" not in l for l in ok))

    def test_status_prints_last_success_last_error_and_next_run(self):
        dead = account(self.env, "dead", port=closed_port())
        write_daemon_config(self.config, [account(self.env, "alice", keep=False), dead])
        r = fetch_status(self.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout,
                         "alice: last success never; next run not scheduled; last error never\n"
                         "dead: last success never; next run not scheduled; last error never\n")
        self.daemon = Daemon(self.config)
        wait_for(lambda: self.daemon.runs("alice", "ok") and self.daemon.runs("dead", "error"),
                 what="one run of each")
        self.assertEqual(self.daemon.stop(), 0, self.daemon.text())
        r = fetch_status(self.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        t = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 2, r.stdout)
        self.assertRegex(lines[0], rf"^alice: last success {t} \(\d+ messages?, \d+ B\); "
                                   rf"next run {t}; last error never$")
        self.assertRegex(lines[1], rf"^dead: last success never; next run {t}; last error {t} "
                                   rf"\(\d+ in a row\): cannot connect to 127\.0\.0\.1:\d+: .*refused")
        # A --once run records too (a timer unit's runs show up), unscheduled.
        self.env.deliver("alice", b"Subject: a2\n\nonce\n")
        r = run_fetch(self.config, "--once", "--account", "alice")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = fetch_status(self.config, "--account", "alice")
        self.assertRegex(r.stdout, rf"^alice: last success {t} \(1 message, \d+ B\); next run "
                                   rf"not scheduled; last error never\n$")
        r2 = run_fetch(self.config, "status", "--account", "alice")  # -c before the verb
        self.assertEqual((r2.returncode, r2.stdout), (0, r.stdout), r2.stderr)
        # A run that finds the account locked by another did not run: not recorded.
        with open(os.path.join(self.env.dir, "state", "alice.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            r3 = run_fetch(self.config, "--once", "--account", "alice")
        self.assertEqual(r3.returncode, 75, r3.stderr)
        self.assertIn("another popbox fetch is working on this account", r3.stderr)
        self.assertEqual(fetch_status(self.config, "--account", "alice").stdout, r.stdout)
        r = fetch_status(self.config, "--account", "nobody")
        self.assertEqual(r.returncode, 78)
        self.assertIn('no account named "nobody"', r.stderr)

    def test_sighup_adds_an_account_and_a_bad_config_keeps_the_old(self):
        alice = account(self.env, "alice", keep=False)
        bob = account(self.env, "bob", user=BOB, keep=False)
        write_daemon_config(self.config, [alice])
        self.daemon = Daemon(self.config)
        wait_for(lambda: self.subjects("alice") == ["Subject: a1"], what="alice's mail")
        time.sleep(1.5)
        self.assertEqual(self.daemon.runs("bob"), [])
        write_daemon_config(self.config, [alice, bob])
        self.daemon.p.send_signal(signal.SIGHUP)
        wait_for(lambda: self.subjects("bob") == ["Subject: b1"], timeout=10,
                 what="bob's mail after SIGHUP")
        self.assertIn("reloaded", self.daemon.text())
        self.assertRegex(self.daemon.text(), r"added=bob removed=- kept=alice")
        # A broken config: logged, the old one (both accounts) keeps running.
        with open(self.config, "a") as f:
            f.write("[[account]]\nname = \"x\"\nbogus = 1\n")
        self.daemon.p.send_signal(signal.SIGHUP)
        wait_for(lambda: "keeping the old configuration" in self.daemon.text(), timeout=10,
                 what="the reload error")
        self.assertRegex(self.daemon.text(), r"keeping the old configuration: .*fetch\.toml:\d+"
                                             r":\d+: unknown key 'bogus'")
        self.env.deliver(BOB, b"Subject: b2\n\nafter the bad reload\n")
        wait_for(lambda: len(self.subjects("bob")) == 2, timeout=10, what="bob's second mail")
        # Removing an account stops its polling.
        write_daemon_config(self.config, [alice])
        self.daemon.p.send_signal(signal.SIGHUP)
        wait_for(lambda: "removed=bob" in self.daemon.text(), timeout=10, what="bob removed")
        self.env.deliver(BOB, b"Subject: b3\n\nnot fetched\n")
        time.sleep(3)
        self.assertEqual(len(self.subjects("bob")), 2)
        self.assertEqual(self.daemon.stop(), 0, self.daemon.text())

    def test_daemon_key_in_config_and_once_overrides_it(self):
        write_daemon_config(self.config, [account(self.env, "alice", keep=False)], daemon=True)
        r = run_fetch(self.config, "--once", timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.subjects("alice"), ["Subject: a1"])
        self.assertNotIn("account=alice", r.stderr)  # today's summary, not a daemon's log
        self.daemon = Daemon(self.config, flag=False)
        wait_for(lambda: self.daemon.runs("alice", "ok"), what="a daemon run")
        time.sleep(1.5)
        self.assertIsNone(self.daemon.p.poll(), "daemon = true keeps it running")
        self.assertEqual(self.daemon.stop(), 0, self.daemon.text())
        r = run_fetch(self.config, "--daemon", "--dry-run", timeout=30)
        self.assertEqual(r.returncode, 64, r.stderr)
        r = run_fetch(self.config, "--daemon", "--once", timeout=30)
        self.assertNotEqual(r.returncode, 0)

    def test_service_manager_hears_ready_reloading_and_stopping(self):
        # What popbox-fetch.service (Type=notify) relies on: sd_notify(3)
        # datagrams on $NOTIFY_SOCKET.
        write_daemon_config(self.config, [account(self.env, "alice", keep=False),
                                          account(self.env, "bob", user=BOB, keep=False)])
        path = os.path.join(self.env.dir, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(20)
        os.environ["NOTIFY_SOCKET"] = path
        try:
            self.daemon = Daemon(self.config)
        finally:
            del os.environ["NOTIFY_SOCKET"]
        try:
            self.assertEqual(sock.recv(4096).decode(), "READY=1\nSTATUS=polling 2 accounts")
            self.daemon.p.send_signal(signal.SIGHUP)
            self.assertRegex(sock.recv(4096).decode(), r"^RELOADING=1\nSTATUS=Reloading\nMONOTONIC_USEC=\d+$")
            self.assertEqual(sock.recv(4096).decode(), "READY=1\nSTATUS=polling 2 accounts")
            self.daemon.p.send_signal(signal.SIGTERM)
            self.assertEqual(sock.recv(4096).decode(),
                             "STOPPING=1\nSTATUS=finishing the messages in flight")
            self.assertEqual(self.daemon.p.wait(timeout=60), 0, self.daemon.text())
        finally:
            sock.close()

    def test_bad_poll_is_a_config_error(self):
        write_daemon_config(self.config, [account(self.env, "alice", poll="100ms")])
        r = run_fetch(self.config, "--daemon", timeout=30)
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertRegex(r.stderr, r"fetch\.toml:\d+:\d+: 'poll' must be a duration from 1s")


class SlowServer:
    """Accepts POP3 connections, waits `hold` seconds, closes; records how
    many were open at once."""

    def __init__(self, hold=0.6):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.hold, self.open, self.peak, self.total = hold, 0, 0, 0
        self.lock = threading.Lock()
        self.running = True
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while self.running:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.hold_one, args=(c,), daemon=True).start()

    def hold_one(self, c):
        with self.lock:
            self.open += 1
            self.total += 1
            self.peak = max(self.peak, self.open)
        time.sleep(self.hold)
        with self.lock:
            self.open -= 1
        c.close()

    def close(self):
        self.running = False
        self.sock.close()


class Jobs(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="popbox-fd-")
        self.config = os.path.join(self.dir, "fetch.toml")
        self.server = SlowServer()

    def tearDown(self):
        self.server.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def peak_with(self, jobs):
        accounts = [{"name": f"a{i}", "host": "127.0.0.1", "port": self.server.port,
                     "tls": "none", "user": "u", "password": "p", "timeout": "5s",
                     "deliver": "maildir:" + os.path.join(self.dir, f"out{i}"),
                     "state_dir": os.path.join(self.dir, "state")} for i in range(3)]
        write_daemon_config(self.config, accounts)
        self.server.peak = self.server.total = 0
        d = Daemon(self.config, "--jobs", str(jobs))
        try:
            wait_for(lambda: self.server.total >= 6, timeout=30, what="six connections")
        finally:
            self.assertEqual(d.stop(), 0, d.text())
        return self.server.peak

    def test_a_hung_server_is_bounded_by_the_timeout_and_a_second_sigterm_exits_at_once(self):
        self.server.hold = 60  # accepts, never greets
        a = {"name": "hung", "host": "127.0.0.1", "port": self.server.port, "tls": "none",
             "user": "u", "password": "p", "timeout": "2s",
             "deliver": "maildir:" + os.path.join(self.dir, "out"),
             "state_dir": os.path.join(self.dir, "state")}
        write_daemon_config(self.config, [a], poll="1s")
        d = Daemon(self.config)
        wait_for(lambda: d.runs("hung"), timeout=20, what="the timeout to end the run")
        self.assertRegex(d.runs("hung")[0], r'result=error .*error="127\.0\.0\.1:\d+: no '
                                            r'answer within 2 s')
        # SIGTERM while a run waits on the hung server: it ends within the timeout.
        wait_for(lambda: self.server.total >= 2, timeout=20, what="the retry")
        started = time.time()
        self.assertEqual(d.stop(signal.SIGTERM, timeout=30), 0, d.text())
        self.assertLess(time.time() - started, 6)
        # A second SIGTERM does not wait at all.
        d = Daemon(self.config)
        wait_for(lambda: self.server.total >= 3, timeout=20, what="a connection")
        d.p.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        started = time.time()
        self.assertEqual(d.stop(signal.SIGTERM, timeout=30), 75, d.text())
        self.assertLess(time.time() - started, 1.5)

    def test_jobs_1_serializes_and_jobs_3_overlaps(self):
        self.assertEqual(self.peak_with(1), 1)
        self.assertEqual(self.peak_with(3), 3)


class Stop(unittest.TestCase):
    """SIGTERM in the middle of a download and SIGKILL loops: exactly once."""

    def setUp(self):
        self.env = Env()
        md = self.env.maildir("alice")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, sub))
        self.count = 3000
        body = b"x" * 2000 + b"\n"
        for i in range(self.count):
            with open(os.path.join(md, "new", f"{1700000000 + i}.M{i}P1.test"), "wb") as f:
                f.write(b"Subject: message %d\n\n" % i + body)
        self.env.chown()
        self.env.start()
        self.config = os.path.join(self.env.dir, "fetch.toml")
        self.out = os.path.join(self.env.dir, "out")
        write_daemon_config(self.config, [account(self.env, keep=False,
                                                  deliver="maildir:" + self.out)])
        self.seed = int(os.environ.get("POPBOX_SEED", time.time()))
        self.rng = random.Random(self.seed)

    def tearDown(self):
        self.env.close()

    def delivered(self):
        return sorted(int(m.split(b"\n")[0].split()[-1]) for m in maildir_files(self.out))

    def count_out(self):
        return sum(len(os.listdir(os.path.join(self.out, s))) for s in ("new", "cur")
                   if os.path.isdir(os.path.join(self.out, s)))

    def finish_once(self):
        for _ in range(100):  # the server may still hold the killed session's lock
            r = run_fetch(self.config, "--once")
            if r.returncode != 75 or "IN-USE" not in r.stderr:
                break
            time.sleep(0.2)
        self.assertEqual(r.returncode, 0, f"POPBOX_SEED={self.seed}: {r.stderr}")

    def test_sigterm_mid_download_finishes_the_message_and_stops(self):
        d = Daemon(self.config)
        wait_for(lambda: self.count_out() >= 50, timeout=60, what="a download under way")
        started = time.time()
        rc = d.stop(signal.SIGTERM, timeout=30)
        self.assertEqual(rc, 0, d.text())
        self.assertLess(time.time() - started, 10, "SIGTERM must not wait for the whole run")
        got = self.delivered()
        self.assertEqual(len(got), len(set(got)), "no duplicates")
        self.assertLess(len(got), self.count, "stopped before the end (make the test bigger)")
        self.assertIn("account=work result=stopped", d.text())
        # Nothing half-written is left in the target.
        self.assertEqual(os.listdir(os.path.join(self.out, "tmp")), [])
        self.finish_once()
        self.assertEqual(self.delivered(), list(range(self.count)), f"POPBOX_SEED={self.seed}")
        self.assertEqual(server_count(self.env), 0)

    def test_sigkill_loop_against_the_daemon(self):
        for _ in range(10):
            d = Daemon(self.config)
            time.sleep(self.rng.uniform(0.05, 1.2))
            d.stop(signal.SIGKILL)
            got = self.delivered()
            self.assertEqual(len(got), len(set(got)), f"POPBOX_SEED={self.seed}: duplicates")
        self.finish_once()
        self.assertEqual(self.delivered(), list(range(self.count)), f"POPBOX_SEED={self.seed}")
        self.assertEqual(server_count(self.env), 0)


class Units(unittest.TestCase):
    UNITS = ["popbox-fetch.service", "popbox-fetch@.service", "popbox-fetch@.timer"]

    def test_user_units_verify(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze is not installed")
        d = tempfile.mkdtemp(prefix="popbox-uunits-")
        runtime = os.path.join(d, "runtime")
        os.mkdir(runtime, 0o700)
        try:
            for u in self.UNITS:
                with open(os.path.join(harness.SRC, "contrib/systemd", u)) as f:
                    text = f.read()
                if u.endswith(".service"):
                    self.assertIn("/usr/bin/popbox fetch", text)
                text = text.replace("/usr/bin/popbox", os.path.abspath(harness.POPBOX))
                # Templates are verified as an instance.
                with open(os.path.join(d, u.replace("@.", "@work.")), "w") as f:
                    f.write(text)
            names = [f"./{u.replace('@.', '@work.')}" for u in self.UNITS]
            env = dict(os.environ, XDG_RUNTIME_DIR=runtime)
            r = subprocess.run(["systemd-analyze", "verify", "--user", "--man=no"] + names,
                               cwd=d, capture_output=True, text=True, timeout=60, env=env)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            for line in (r.stdout + r.stderr).splitlines():
                self.assertNotRegex(line, r"popbox", line)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_units_run_the_daemon_and_one_account_once(self):
        with open(os.path.join(harness.SRC, "contrib/systemd/popbox-fetch.service")) as f:
            service = f.read()
        self.assertIn("ExecStart=/usr/bin/popbox fetch --daemon --config %E/popbox/fetch.toml",
                      service)
        self.assertIn("Type=notify", service)
        with open(os.path.join(harness.SRC, "contrib/systemd/popbox-fetch@.service")) as f:
            once = f.read()
        self.assertIn("--once", once)
        self.assertIn("--account %i", once)


if __name__ == "__main__":
    run_tests()
