"""The service-manager protocols without a service manager: sockets passed
the way systemd passes them (systemd-socket-activate: LISTEN_FDS,
LISTEN_PID, LISTEN_FDNAMES), sd_notify messages read from a NOTIFY_SOCKET
of our own in the order they are sent, and the journal's priority prefix
when JOURNAL_STREAM names stderr. test_systemd.py does the same under a
real systemd; this file pins the exact bytes."""

import os
import poplib
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

ACTIVATE = "/usr/bin/systemd-socket-activate"


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Notifications:
    """A NOTIFY_SOCKET: the datagrams popbox sends, as {key: value} dicts."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o777)  # popbox sends after dropping root, like to systemd's
        self.sock.settimeout(15)

    def next(self):
        data = self.sock.recv(4096).decode()
        return dict(line.split("=", 1) for line in data.split("\n") if line)

    def close(self):
        self.sock.close()


@unittest.skipUnless(os.path.exists(ACTIVATE), "systemd-socket-activate is not installed")
class SocketActivation(unittest.TestCase):
    def setUp(self):
        self.env = harness.Env()
        # The config's own listeners: not bound when systemd passes a socket
        # of the same protocol.
        self.config_unix = os.path.join(self.env.dir, "config-lmtp")
        with open(self.env.config, "a") as f:
            f.write(f'[lmtp]\nunix = "{self.config_unix}"\n')
        self.msg = harness.MESSAGES["dots"]
        self.env.deliver("alice", self.msg)
        self.env.chown()
        self.notify = Notifications(os.path.join(self.env.dir, "notify"))
        self.lmtp_path = os.path.join(self.env.dir, "lmtp")
        self.proc = None

    def tearDown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.notify.close()
        self.env.close()

    def activate(self, names, listen):
        self.log_path = os.path.join(self.env.dir, "serve.log")
        args = [ACTIVATE]
        for l in listen:
            args += ["-l", l]
        args += [f"--fdname={':'.join(names)}", "-E", f"NOTIFY_SOCKET={self.notify.path}",
                 harness.POPBOX, "serve", "-c", self.env.config]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def connect(self, port):
        """The first connection makes systemd-socket-activate start popbox."""
        deadline = time.time() + 10
        while True:
            try:
                return poplib.POP3("127.0.0.1", port, timeout=20)
            except ConnectionRefusedError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)

    @staticmethod
    def poke(port):
        """Connects once (retrying until the activator listens) and closes."""
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=10).close()
                return
            except ConnectionRefusedError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)

    def popbox_pid(self):
        """popbox's pid (LISTEN_PID): the activator execs it, maybe in a child."""
        for _ in range(100):
            for pid in [self.proc.pid] + self.children(self.proc.pid):
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        if f.read().strip() == "popbox":
                            return pid
                except OSError:
                    pass
            time.sleep(0.05)
        raise AssertionError("no popbox process")

    @staticmethod
    def children(pid):
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def test_inherited_sockets_serve_and_notify_in_order(self):
        pop3, pop3s = harness.free_port(), harness.free_port()
        self.activate(["pop3", "pop3s", "lmtp"],
                      [f"127.0.0.1:{pop3}", f"127.0.0.1:{pop3s}", self.lmtp_path])
        c = self.connect(pop3)
        ready = self.notify.next()
        self.assertEqual(ready, {"READY": "1", "STATUS": "Serving on 3 listener(s)"})
        # STLS on the inherited plain socket, then a byte-exact RETR.
        c.stls(tls_context())
        c.user("alice")
        c.pass_("alice-secret")
        _, lines, _ = c.retr(1)
        self.assertEqual(b"\r\n".join(lines) + b"\r\n", harness.wire_form(self.msg))
        c.quit()
        s = poplib.POP3_SSL("127.0.0.1", pop3s, context=tls_context(), timeout=20)
        s.user("bob@example.com")
        s.pass_("bob secret")
        self.assertEqual(s.stat(), (0, 0))
        s.quit()
        with harness.LineClient(path=self.lmtp_path) as l:
            self.assertTrue(l.greeting.startswith(b"220"))
            self.assertTrue(l.cmd("LHLO mx.test").startswith(b"250"))
            while not l.line().startswith(b"250 "):
                pass
            self.assertTrue(l.cmd("MAIL FROM:<x@example.org>").startswith(b"250"))
            self.assertTrue(l.cmd("RCPT TO:<bob@example.com>").startswith(b"250"))
            self.assertTrue(l.cmd("DATA").startswith(b"354"))
            self.assertTrue(l.cmd(b"Subject: t\r\n\r\nhi\r\n.").startswith(b"250"))
        log = self.log()
        listening = re.findall(r"event=listening .*", log)
        self.assertEqual(len(listening), 3, log)
        for line in listening:
            self.assertTrue(line.endswith("inherited=yes"), line)
        self.assertIn(f"proto=pop3 address=127.0.0.1:{pop3} inherited=yes", log)
        self.assertIn(f"proto=pop3s address=127.0.0.1:{pop3s} inherited=yes", log)
        self.assertIn(f"proto=lmtp address=unix:{self.lmtp_path} inherited=yes", log)
        self.assertFalse(os.path.exists(self.config_unix))  # [lmtp] unix not bound

        pid = self.popbox_pid()
        os.kill(pid, signal.SIGHUP)
        reloading = self.notify.next()
        now_us = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.assertEqual(reloading["RELOADING"], "1")
        self.assertRegex(reloading["MONOTONIC_USEC"], r"^\d+$")
        self.assertLess(abs(int(reloading["MONOTONIC_USEC"]) - now_us), 5_000_000)
        self.assertEqual(self.notify.next(), {"READY": "1", "STATUS": "Serving (reloaded)"})
        os.kill(pid, signal.SIGTERM)
        stopping = self.notify.next()
        self.assertEqual(stopping["STOPPING"], "1")
        self.assertEqual(self.proc.wait(30), 0, self.log())
        # The inherited socket file is systemd's: popbox leaves it in place.
        self.assertTrue(os.path.exists(self.lmtp_path))

    def test_unknown_fd_name_is_an_error_naming_it(self):
        port = harness.free_port()
        self.activate(["imap"], [f"127.0.0.1:{port}"])
        self.poke(port)
        self.assertEqual(self.proc.wait(30), 69, self.log())  # EX_UNAVAILABLE
        self.assertIn("systemd passed socket fd 3 named 'imap': FileDescriptorName= must be "
                      "pop3, pop3s or lmtp", self.log())

    def test_pop3s_socket_without_tls_is_refused(self):
        self.env.close()
        self.env = harness.Env(tls=False)
        port = harness.free_port()
        self.activate(["pop3s"], [f"127.0.0.1:{port}"])
        self.poke(port)
        self.assertEqual(self.proc.wait(30), 69, self.log())
        self.assertIn("named 'pop3s' but [tls] is not configured", self.log())


class JournalPriorities(unittest.TestCase):
    """With stderr on the journal (JOURNAL_STREAM is its device:inode)
    each line starts with its syslog priority; otherwise nothing changes."""

    def run_server(self, journal_stream_of_log):
        env = harness.Env(extra_server="max_connections = 1000000")  # a warning line
        log_path = env.config + ".log"
        open(log_path, "wb").close()  # the harness reopens (truncates) this inode
        st = os.stat(log_path)
        ino = st.st_ino if journal_stream_of_log else st.st_ino + 1
        os.environ["JOURNAL_STREAM"] = f"{st.st_dev}:{ino}"
        try:
            server = env.start()
        finally:
            del os.environ["JOURNAL_STREAM"]
        try:
            c = poplib.POP3("127.0.0.1", server.pop3, timeout=20)
            c.user("alice")
            try:
                c.pass_("wrong")
            except poplib.error_proto:
                pass
            c.quit()
            server.stop()
            return server.log_text().splitlines()
        finally:
            env.close()

    def test_prefix_when_stderr_is_the_journal(self):
        lines = self.run_server(True)
        self.assertTrue(lines)
        prio = {"info": "<6>", "warning": "<4>", "error": "<3>", "debug": "<7>"}
        seen = set()
        for line in lines:
            m = re.match(r"^(<\d>)\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} (\w+) \w+=\S*", line)
            self.assertIsNotNone(m, line)
            self.assertEqual(m.group(1), prio[m.group(2)], line)
            seen.add(m.group(1))
        self.assertTrue({"<6>", "<4>"} <= seen, lines)
        self.assertTrue(any("<4>" in l and "event=fd_limit_low" in l for l in lines))

    def test_unchanged_when_stderr_is_not_the_journal(self):
        for line in self.run_server(False):
            self.assertRegex(line, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} (info|warning|error) "
                                   r"\w+=")


if __name__ == "__main__":
    harness.run_tests()
