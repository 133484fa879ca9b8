"""`popbox fetch` against `popbox serve`: plain (tls = "none"), STLS and
POP3S; keep, keep_days, delete mode, max_size; every delivery target
byte-exact; TLS verification failures and the key pin; exit codes; and
SIGKILL at random moments of a 1,000-message download."""

import fcntl
import hashlib
import os
import poplib
import random
import signal
import socket
import subprocess
import time
import unittest

import harness
from fetch_helpers import (EX_CONFIG, EX_DATAERR, EX_IOERR, EX_NOPERM, EX_PROTOCOL, EX_TEMPFAIL,
                           EX_UNAVAILABLE, LmtpServer, account, fetch_retrying,
                           local_form, maildir_files, make_cert, mbox_entry, pin_of, run_fetch,
                           server_count, write_config)
from harness import MESSAGES, Env, run_tests

T0 = 1_800_000_000
DAY = 86400


class FetchTestBase(unittest.TestCase):
    env_args = {}

    def setUp(self):
        self.env = Env(**self.env_args)
        self.names = list(MESSAGES)
        for name in self.names:
            self.env.deliver("alice", MESSAGES[name])
        self.env.start()
        self.config = os.path.join(self.env.dir, "fetch.toml")

    def tearDown(self):
        self.env.close()

    def write(self, *accounts):
        return write_config(self.config, *accounts)

    def out(self, name="work"):
        return os.path.join(self.env.dir, "out-" + name)

    def assert_all_delivered(self, got):
        want = sorted(local_form(MESSAGES[n]) for n in self.names)
        self.assertEqual(sorted(got), want)

    def assert_ok(self, r):
        self.assertEqual(r.returncode, 0, r.stderr)


class Modes(FetchTestBase):
    def test_delete_mode_plain_empties_the_server_byte_exact(self):
        self.write(account(self.env, keep=False))
        r = run_fetch(self.config)
        self.assert_ok(r)
        self.assertIn('tls = "none"', r.stderr)  # the explicit choice is warned about
        self.assertIn(f"fetched {len(self.names)} messages", r.stderr)
        self.assertIn(f"deleted {len(self.names)}", r.stderr)
        self.assert_all_delivered(maildir_files(self.out()))
        self.assertEqual(server_count(self.env), 0)
        self.assertEqual(os.listdir(os.path.join(self.out(), "tmp")), [])

    def test_keep_second_run_fetches_nothing(self):
        self.write(account(self.env, keep=True))
        self.assert_ok(run_fetch(self.config))
        r = run_fetch(self.config)
        self.assert_ok(r)
        self.assertIn("work: fetched 0 messages", r.stderr)
        self.assertEqual(len(maildir_files(self.out())), len(self.names))
        self.assertEqual(server_count(self.env), len(self.names))
        # New mail is picked up, the old is not fetched again.
        self.env.deliver("alice", b"Subject: later\n\nnew\n")
        r = run_fetch(self.config)
        self.assertIn("fetched 1 message ", r.stderr)
        self.assertEqual(len(maildir_files(self.out())), len(self.names) + 1)

    def test_keep_days_deletes_after_the_deadline(self):
        self.write(account(self.env, keep=True, keep_days=3))
        n = len(self.names)
        self.assert_ok(run_fetch(self.config, now=T0))
        self.env.deliver("alice", b"Subject: day one\n\nx\n")
        self.assert_ok(run_fetch(self.config, now=T0 + DAY))
        self.assertEqual(server_count(self.env), n + 1)
        self.assert_ok(run_fetch(self.config, now=T0 + 3 * DAY - 1))
        self.assertEqual(server_count(self.env), n + 1)
        r = run_fetch(self.config, now=T0 + 3 * DAY)
        self.assert_ok(r)
        self.assertIn(f"deleted {n}", r.stderr)
        self.assertEqual(server_count(self.env), 1)
        self.assert_ok(run_fetch(self.config, now=T0 + 4 * DAY))
        self.assertEqual(server_count(self.env), 0)
        self.assertEqual(len(maildir_files(self.out())), n + 1)  # nothing fetched twice

    def test_max_size_leaves_big_messages_and_reports_them(self):
        big = b"Subject: big\n\n" + b"z" * 3000 + b"\n"
        self.env.deliver("alice", big)
        self.write(account(self.env, keep=False, max_size="2K"))
        for _ in range(2):
            r = run_fetch(self.config)
            self.assert_ok(r)
            self.assertIn("over max_size; it stays on the server", r.stderr)
        self.assertEqual(server_count(self.env), 2)
        # "long-line" (11 kB) is over 2K too: it stayed as well.
        got = maildir_files(self.out())
        self.assertNotIn(local_form(big), got)
        self.assertEqual(len(got), len(self.names) - 1)

    def test_dry_run_changes_nothing(self):
        self.write(account(self.env, keep=False))
        r = run_fetch(self.config, "--dry-run")
        self.assert_ok(r)
        self.assertIn(f"would download {len(self.names)} messages", r.stderr)
        self.assertIn("download 1 uidl=", r.stderr)
        self.assertEqual(maildir_files(self.out()), [])
        self.assertEqual(server_count(self.env), len(self.names))
        self.assert_ok(run_fetch(self.config))
        self.env.deliver("alice", b"Subject: x\n\ny\n")
        self.write(account(self.env, keep=True, keep_days=1))
        r = run_fetch(self.config, "--dry-run", now=T0 * 2)
        self.assertIn("would download 1 message (", r.stderr)

    def test_progress_quiet_and_jobs(self):
        self.env.deliver("bob@example.com", b"Subject: for bob\n\nhi\n")
        self.write(account(self.env), account(self.env, name="bob", user="bob@example.com"))
        r = run_fetch(self.config, "--progress", "--jobs", "2")
        self.assert_ok(r)
        self.assertIn("ETA", r.stderr)
        self.assertIn("msgs", r.stderr)
        self.assertIn("bob: fetched 1 message", r.stderr)
        self.assertIn(f"work: fetched {len(self.names)} messages", r.stderr)
        self.env.deliver("alice", b"Subject: cron\n\n.\n")
        r = run_fetch(self.config, "--quiet", "--account", "work")
        self.assert_ok(r)
        self.assertEqual(r.stderr, "")
        self.assertEqual(len(maildir_files(self.out())), len(self.names) + 1)


class Targets(FetchTestBase):
    def test_mbox_byte_exact(self):
        mbox = os.path.join(self.env.dir, "mbox")
        self.write(account(self.env, keep=False, deliver="mbox:" + mbox))
        self.assert_ok(run_fetch(self.config, now=T0))
        with open(mbox, "rb") as f:
            got = f.read()
        self.assertEqual(got, b"".join(mbox_entry(MESSAGES[n], T0) for n in self.names))

    def test_mda_byte_exact(self):
        out = os.path.join(self.env.dir, "mda-out")
        os.mkdir(out)
        self.write(account(self.env, keep=False, deliver=f"mda:cat > {out}/msg.$$"))
        self.assert_ok(run_fetch(self.config))
        got = []
        for name in os.listdir(out):
            with open(os.path.join(out, name), "rb") as f:
                got.append(f.read())
        self.assert_all_delivered(got)

    def test_mda_failure_keeps_the_mail_on_the_server(self):
        self.write(account(self.env, keep=False, deliver="mda:cat >/dev/null; exit 1"))
        r = run_fetch(self.config)
        self.assertEqual(r.returncode, EX_IOERR, r.stderr)
        self.assertIn("exited with status 1", r.stderr)
        self.assertEqual(server_count(self.env), len(self.names))
        self.write(account(self.env, keep=False, deliver="mda:exit 75"))
        self.assertEqual(run_fetch(self.config).returncode, EX_TEMPFAIL)
        self.write(account(self.env, keep=False))
        self.assert_ok(run_fetch(self.config))
        self.assert_all_delivered(maildir_files(self.out()))

    def test_lmtp_byte_exact(self):
        lmtp = LmtpServer()
        try:
            self.write(account(self.env, keep=False, deliver=f"lmtp:127.0.0.1:{lmtp.port}/bob"))
            self.assert_ok(run_fetch(self.config))
            self.assertEqual(sorted(d for _, d in lmtp.messages),
                             sorted(harness.wire_form(MESSAGES[n]) for n in self.names))
            self.assertTrue(all(r == ["<bob>"] for r, _ in lmtp.messages))
            self.assertEqual(server_count(self.env), 0)
        finally:
            lmtp.close()

    def test_lmtp_refusal_keeps_the_mail(self):
        lmtp = LmtpServer(reply_to_data=b"452 4.2.2 mailbox full")
        try:
            self.write(account(self.env, keep=False, deliver=f"lmtp:127.0.0.1:{lmtp.port}/bob"))
            r = run_fetch(self.config)
            self.assertEqual(r.returncode, EX_TEMPFAIL, r.stderr)
            self.assertIn("mailbox full", r.stderr)
            self.assertEqual(server_count(self.env), len(self.names))
        finally:
            lmtp.close()


class PopboxLmtp(FetchTestBase):
    """Into popbox's own LMTP listener (the mail-in side of popbox serve)."""
    env_args = {"extra_sections": '[lmtp]\nlisten = ["127.0.0.1:0"]\n'}

    def setUp(self):
        try:
            super().setUp()
        except (TypeError, RuntimeError) as e:  # harness or server without [lmtp]
            self.skipTest(f"no LMTP listener: {e}")

    def test_fetch_into_popbox_lmtp(self):
        if not getattr(self.env.server, "lmtp", None):
            self.skipTest("popbox serve has no LMTP listener in this build")
        self.write(account(self.env, keep=False,
                           deliver=f"lmtp:127.0.0.1:{self.env.server.lmtp}/bob@example.com"))
        self.assert_ok(run_fetch(self.config))
        got = maildir_files(self.env.maildir("bob@example.com"))
        self.assertEqual(len(got), len(self.names))
        for n in self.names:  # headers may be added in front; the message follows whole
            want = local_form(MESSAGES[n])
            self.assertTrue(any(g.replace(b"\r\n", b"\n").endswith(want) for g in got), n)


class Tls(FetchTestBase):
    def test_starttls_and_implicit_with_ca_file(self):
        # Two accounts on the same maildrop, one after the other (--jobs 1:
        # the server locks the maildrop), each with its own state.
        self.write(account(self.env, mode="starttls", host="localhost"),
                   account(self.env, name="s", mode="implicit", host="127.0.0.1"))
        r = run_fetch(self.config, "--jobs", "1")
        self.assert_ok(r)
        self.assertNotIn('tls = "none"', r.stderr)
        self.assert_all_delivered(maildir_files(self.out()))
        self.assert_all_delivered(maildir_files(self.out("s")))

    def test_every_mechanism_over_tls(self):
        for mech in ("auto", "user", "plain", "login"):
            self.write(account(self.env, name=mech, mode="implicit", auth=mech))
            r = run_fetch(self.config)
            self.assert_ok(r)
            self.assertIn(f"fetched {len(self.names)}", r.stderr)

    def test_unknown_ca_fails_clearly_without_logging_in(self):
        other = os.path.join(self.env.dir, "other.pem")
        make_cert(other, os.path.join(self.env.dir, "other.key"), "DNS:localhost")
        for mode in ("implicit", "starttls"):
            self.write(account(self.env, mode=mode, ca_file=other))
            r = run_fetch(self.config)
            self.assertEqual(r.returncode, EX_PROTOCOL, r.stderr)
            self.assertIn("certificate verification failed", r.stderr)
            self.assertIn("unknown CA", r.stderr)
        self.write(account(self.env, mode="implicit", ca_file=None))  # the system store
        r = run_fetch(self.config)
        self.assertEqual(r.returncode, EX_PROTOCOL, r.stderr)
        self.assertIn("self-signed certificate", r.stderr)
        self.assertNotIn("event=login", self.env.server.log_text())
        self.assertEqual(maildir_files(self.out()), [])

    def test_pin_right_and_wrong(self):
        pin = pin_of(self.env.cert)
        a = account(self.env, mode="implicit", fingerprint=pin)
        del a["ca_file"]  # the pin alone: a self-signed server
        self.write(a)
        self.assert_ok(run_fetch(self.config))
        self.assertEqual(len(maildir_files(self.out())), len(self.names))
        other = os.path.join(self.env.dir, "other.pem")
        make_cert(other, os.path.join(self.env.dir, "other.key"), "DNS:localhost")
        a["fingerprint"] = pin_of(other)
        self.write(a)
        r = run_fetch(self.config)
        self.assertEqual(r.returncode, EX_PROTOCOL, r.stderr)
        self.assertIn("does not match the pinned fingerprint", r.stderr)
        self.assertIn(pin, r.stderr)  # names the key it saw
        # With ca_file as well, both must hold.
        self.write(account(self.env, mode="starttls", fingerprint=pin_of(other)))
        self.assertEqual(run_fetch(self.config).returncode, EX_PROTOCOL)


class WrongHost(FetchTestBase):
    def setUp(self):
        self.env = Env()
        # A certificate for other.test only, replacing the harness one.
        make_cert(self.env.cert, self.env.key, "DNS:other.test")
        self.names = ["lf"]
        self.env.deliver("alice", MESSAGES["lf"])
        self.env.start()
        self.config = os.path.join(self.env.dir, "fetch.toml")

    def test_wrong_host_name_fails_clearly(self):
        for host in ("localhost", "127.0.0.1"):
            self.write(account(self.env, mode="implicit", host=host))
            r = run_fetch(self.config)
            self.assertEqual(r.returncode, EX_PROTOCOL, r.stderr)
            self.assertIn("mismatch", r.stderr)
            self.assertIn(f"not valid for {host}", r.stderr)
        self.assertEqual(maildir_files(self.out()), [])


class ExpiredCertificate(FetchTestBase):
    def setUp(self):
        self.env = Env()
        # A CA the client trusts, and a server certificate it signed that
        # expired yesterday.
        d = self.env.dir
        self.ca = os.path.join(d, "ca.pem")
        run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
            os.path.join(d, "ca.key"), "-out", self.ca, "-days", "30", "-subj", "/CN=Test CA")
        csr = os.path.join(d, "server.csr")
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", self.env.key, "-out",
            csr, "-subj", "/CN=localhost", "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1")
        run("openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey",
            os.path.join(d, "ca.key"), "-CAcreateserial", "-out", self.env.cert, "-days", "-1",
            "-copy_extensions", "copy")
        self.names = ["lf"]
        self.env.deliver("alice", MESSAGES["lf"])
        self.env.start()
        self.config = os.path.join(self.env.dir, "fetch.toml")

    def test_expired_certificate_fails_clearly(self):
        for mode in ("implicit", "starttls"):
            self.write(account(self.env, mode=mode, ca_file=self.ca))
            r = run_fetch(self.config)
            self.assertEqual(r.returncode, EX_PROTOCOL, r.stderr)
            self.assertIn("expired", r.stderr)
        self.assertNotIn("event=login", self.env.server.log_text())
        self.assertEqual(maildir_files(self.out()), [])


class Failures(FetchTestBase):
    def test_exit_codes(self):
        self.write(account(self.env, password="wrong"))
        r = run_fetch(self.config)
        self.assertEqual(r.returncode, EX_NOPERM, r.stderr)
        self.assertIn("[AUTH]", r.stderr)
        self.write(account(self.env, auth="apop"))
        self.assertEqual(run_fetch(self.config).returncode, EX_NOPERM)
        self.write(account(self.env, port=harness.free_port()))
        r = run_fetch(self.config)
        self.assertEqual(r.returncode, EX_UNAVAILABLE, r.stderr)
        self.assertIn("cannot connect", r.stderr)
        with open(self.config, "w") as f:
            f.write("[[account]]\nname = 1\n")
        r = run_fetch(self.config)
        self.assertEqual(r.returncode, EX_CONFIG)
        self.assertIn("fetch.toml:2:8: 'name' must be a string", r.stderr)
        self.write(account(self.env, tls="none", deliver="maildir:/proc/no/such"))
        self.assertEqual(run_fetch(self.config).returncode, 73)  # EX_CANTCREAT
        self.assertEqual(server_count(self.env), len(self.names))

    def test_silent_server_times_out_and_busy_maildrop_is_temporary(self):
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            self.write(account(self.env, port=silent.getsockname()[1], timeout="1s"))
            started = time.time()
            r = run_fetch(self.config)
        self.assertEqual(r.returncode, EX_TEMPFAIL, r.stderr)
        self.assertIn("no answer within 1 s", r.stderr)
        self.assertLess(time.time() - started, 10)
        busy = poplib.POP3("127.0.0.1", self.env.server.pop3)
        busy.user("alice")
        busy.pass_(self.env.users["alice"])
        self.write(account(self.env))
        r = run_fetch(self.config)
        busy.quit()
        self.assertEqual(r.returncode, EX_TEMPFAIL, r.stderr)
        self.assertIn("[IN-USE]", r.stderr)

    def test_a_running_fetch_locks_its_account(self):
        self.write(account(self.env))
        state = os.path.join(self.env.dir, "state")
        os.makedirs(state)
        with open(os.path.join(state, "work.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            r = run_fetch(self.config)
        self.assertEqual(r.returncode, EX_TEMPFAIL)
        self.assertIn("another popbox fetch", r.stderr)

    def test_password_command_and_netrc(self):
        a = account(self.env)
        del a["password"]
        a["password_command"] = "echo alice-secret"
        self.write(a)
        self.assert_ok(run_fetch(self.config))
        del a["password_command"]
        a["name"] = "netrc"
        self.write(a)
        home = os.path.join(self.env.dir, "home")
        os.mkdir(home)
        with open(os.path.join(home, ".netrc"), "w") as f:
            f.write("machine 127.0.0.1 login alice password alice-secret\n")
        r = subprocess.run([harness.POPBOX, "fetch", "--config", self.config],
                           capture_output=True, text=True, env={**os.environ, "HOME": home})
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_all_uidls_changed_needs_a_flag(self):
        self.write(account(self.env, keep=True))
        for i in range(12):
            self.env.deliver("alice", b"Subject: %d\n\nx\n" % i)
        self.assert_ok(run_fetch(self.config))
        fetched = len(maildir_files(self.out()))
        # The server's mailbox is replaced: no UIDL is known any more.
        for sub in ("new", "cur"):
            d = os.path.join(self.env.maildir("alice"), sub)
            for name in os.listdir(d):
                os.unlink(os.path.join(d, name))
        self.env.deliver("alice", b"Subject: renamed\n\nx\n")
        r = run_fetch(self.config)
        self.assertEqual(r.returncode, EX_DATAERR, r.stderr)
        self.assertIn("--accept-new-uidls", r.stderr)
        self.assertEqual(len(maildir_files(self.out())), fetched)
        self.assert_ok(run_fetch(self.config, "--accept-new-uidls"))
        self.assertEqual(len(maildir_files(self.out())), fetched + 1)


class NoTls(FetchTestBase):
    env_args = {"tls": False}

    def test_starttls_refused_is_an_error_not_a_fallback(self):
        make_cert(self.env.cert, self.env.key, "DNS:localhost")  # only for ca_file
        self.write(account(self.env, mode="starttls", ca_file=self.env.cert))
        r = run_fetch(self.config)
        self.assertEqual(r.returncode, EX_PROTOCOL, r.stderr)
        self.assertIn("not falling back to plaintext", r.stderr)
        self.assertNotIn("event=login", self.env.server.log_text())


class Apop(FetchTestBase):
    env_args = {"apop": True}

    def test_auto_uses_apop_without_tls(self):
        self.write(account(self.env, keep=False))
        self.assert_ok(run_fetch(self.config))
        self.assert_all_delivered(maildir_files(self.out()))


class BigMessage(FetchTestBase):
    def test_a_big_message_streams_into_an_mbox_with_little_memory(self):
        # A batched mbox holds at most 4 MiB in memory; a 64 MiB message
        # goes on into the file.
        md = self.env.maildir("alice")
        line = b"0123456789abcdefghijklmnopqrstuvwxyz-.-" * 2 + b"\n"
        block = line * (1024 * 1024 // len(line))
        with open(os.path.join(md, "new", "1.M1P1.big"), "wb") as f:
            f.write(b"Subject: big\n\n")
            for _ in range(64):
                f.write(block)
        mbox = os.path.join(self.env.dir, "mbox")
        self.write(account(self.env, keep=False, deliver="mbox:" + mbox))
        p = subprocess.Popen([harness.POPBOX, "fetch", "--config", self.config],
                             stderr=subprocess.PIPE, env=dict(os.environ, POPBOX_FETCH_NOW=str(T0)))
        peak_kb = 0
        while p.poll() is None:
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    for l in f:
                        if l.startswith("VmHWM:"):
                            peak_kb = max(peak_kb, int(l.split()[1]))
            except OSError:
                pass
            time.sleep(0.02)
        self.assertEqual(p.returncode, 0, p.stderr.read())
        want = hashlib.sha256()
        for n in self.names:
            want.update(mbox_entry(MESSAGES[n], T0))
        want.update(b"From MAILER-DAEMON " + time.strftime("%a %b %e %H:%M:%S %Y",
                                                             time.gmtime(T0)).encode()
                    + b"\nSubject: big\n\n")
        for _ in range(64):
            want.update(block)
        want.update(b"\n")
        got = hashlib.sha256()
        with open(mbox, "rb") as f:
            while chunk := f.read(1 << 20):
                got.update(chunk)
        self.assertEqual(got.hexdigest(), want.hexdigest())
        self.assertGreater(peak_kb, 0)
        if not os.environ.get("POPBOX_SANITIZED"):
            self.assertLess(peak_kb, 32 * 1024, "kB: fetch must stream, not buffer")

    def test_a_big_message_streams_with_little_memory(self):
        # Written and checked in pieces: this process stays small too.
        md = self.env.maildir("alice")
        line = b"0123456789abcdefghijklmnopqrstuvwxyz-.-" * 2 + b"\n"
        block = line * (1024 * 1024 // len(line))
        want = hashlib.sha256(b"Subject: big\n\n")
        with open(os.path.join(md, "new", "1.M1P1.big"), "wb") as f:
            f.write(b"Subject: big\n\n")
            for _ in range(64):
                f.write(block)
                want.update(block)  # LF lines: the local form is the stored form
        self.write(account(self.env, keep=False))
        p = subprocess.Popen([harness.POPBOX, "fetch", "--config", self.config],
                             stderr=subprocess.PIPE)
        peak_kb = 0
        while p.poll() is None:
            # VmHWM of the fetch itself (the rusage of a child also counts
            # the memory of the Python process it was forked from).
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    for l in f:
                        if l.startswith("VmHWM:"):
                            peak_kb = max(peak_kb, int(l.split()[1]))
            except OSError:
                pass
            time.sleep(0.02)
        self.assertEqual(p.returncode, 0, p.stderr.read())
        digests = set()
        for sub in ("new", "cur"):
            for name in os.listdir(os.path.join(self.out(), sub)):
                h = hashlib.sha256()
                with open(os.path.join(self.out(), sub, name), "rb") as f:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)
                digests.add(h.hexdigest())
        self.assertIn(want.hexdigest(), digests)
        self.assertGreater(peak_kb, 0)
        if not os.environ.get("POPBOX_SANITIZED"):  # ASan's shadow memory costs tens of MiB
            self.assertLess(peak_kb, 32 * 1024, "kB: fetch must stream, not buffer")


class Crash(unittest.TestCase):
    """SIGKILL at random moments, many times, then one clean run."""

    def setUp(self):
        self.env = Env()
        md = self.env.maildir("alice")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, sub))
        self.count = 1000
        for i in range(self.count):
            with open(os.path.join(md, "new", f"{1700000000 + i}.M{i}P1.test"), "wb") as f:
                f.write(b"Subject: message %d\nMessage-ID: <%d@crash.test>\n\nbody %d\n" % (i, i, i))
        self.env.start()
        self.config = os.path.join(self.env.dir, "fetch.toml")
        self.seed = int(os.environ.get("POPBOX_SEED", time.time()))
        self.rng = random.Random(self.seed)

    def tearDown(self):
        self.env.close()

    def kill_loop(self, kills, max_delay):
        """Returns how many of the kills hit a run still in progress."""
        interrupted = 0
        for _ in range(kills):
            p = subprocess.Popen([harness.POPBOX, "fetch", "--config", self.config],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(self.rng.uniform(0.02, max_delay))
            interrupted += p.poll() is None
            p.send_signal(signal.SIGKILL)
            p.wait()
        r = fetch_retrying(self.config)
        self.assertEqual(r.returncode, 0, f"POPBOX_SEED={self.seed}: {r.stderr}")
        return interrupted

    def test_maildir_exactly_once_under_sigkill(self):
        out = os.path.join(self.env.dir, "out")
        write_config(self.config, account(self.env, keep=False, deliver="maildir:" + out))
        self.kill_loop(15, 1.2)
        got = maildir_files(out)
        subjects = sorted(int(g.split(b"\n")[0].split()[-1]) for g in got)
        self.assertEqual(subjects, list(range(self.count)), f"POPBOX_SEED={self.seed}")
        self.assertEqual(server_count(self.env), 0)

    def test_mbox_exactly_once_under_sigkill(self):
        # Batched like the Maildir (intents, one write, one fsync, records
        # per 32 messages): the same 1,000 messages and kills.
        mbox = os.path.join(self.env.dir, "mbox")
        write_config(self.config, account(self.env, keep=False, deliver="mbox:" + mbox))
        # A batched mbox takes 1,000 messages in about 0.1 s: 3,000 of them,
        # and kills sooner, so that they land inside the download.
        md = self.env.maildir("alice")
        for i in range(self.count, 3000):
            with open(os.path.join(md, "new", f"{1700000000 + i}.M{i}P1.test"), "wb") as f:
                f.write(b"Subject: message %d\nMessage-ID: <%d@crash.test>\n\nbody %d\n"
                        % (i, i, i))
        self.count = 3000
        interrupted = self.kill_loop(15, 0.2)
        self.assertGreater(interrupted, 0, f"POPBOX_SEED={self.seed}")
        with open(mbox, "rb") as f:
            text = f.read()
        entries = text.split(b"\nFrom MAILER-DAEMON ")
        subjects = sorted(int(e.split(b"Subject: message ")[1].split(b"\n")[0]) for e in entries)
        self.assertEqual(subjects, list(range(self.count)), f"POPBOX_SEED={self.seed}")
        self.assertTrue(text.endswith(b"\n\n"))
        self.assertEqual(server_count(self.env), 0)


if __name__ == "__main__":
    run_tests()
