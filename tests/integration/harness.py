"""Shared setup for integration tests: a temporary Maildir tree, users,
a self-signed certificate, a config file, and the real `popbox serve`
started on ephemeral loopback ports."""

import os
import pwd
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

POPBOX = os.environ.get("POPBOX_BIN", os.path.join(os.path.dirname(__file__), "../../build/popbox"))
SRC = os.environ.get("POPBOX_SRC", os.path.join(os.path.dirname(__file__), "../.."))
# POPBOX_IT_CLUSTER=1: Env.start() starts PostgreSQL, two nodes and HAProxy
# (cluster.py) instead of one server; the mail Env.deliver() wrote is copied
# into PostgreSQL first, and the server's ports are HAProxy's.
CLUSTER = os.environ.get("POPBOX_IT_CLUSTER") == "1"

# Message shapes every client must receive byte-exact (stored form).
MESSAGES = {
    "lf": b"From: a@example.com\nTo: b@example.com\nSubject: lf\n\nHello\nWorld\n",
    "crlf": b"From: a@example.com\r\nSubject: crlf\r\n\r\nLine one\r\nLine two\r\n",
    "no-final-newline": b"Subject: no newline\n\nlast line without newline",
    "long-line": b"Subject: long\n\n" + b"x" * 6000 + b"\n" + b"y" * 5001,
    "eight-bit": b"Subject: 8bit\nContent-Type: text/plain; charset=latin1\n\n"
    + bytes(range(0x80, 0x100)) + b"\n\x00\x01\x02 binary\n",
    "empty-body": b"Subject: empty body\n\n",
    "dots": b"Subject: dots\n\n.\n..\n.hidden\n.\n",
    "zero-bytes": b"",
}


def wire_form(stored: bytes) -> bytes:
    """What RETR must deliver after un-stuffing: CRLF line ends, final CRLF."""
    out = re.sub(rb"(?<!\r)\n", b"\r\n", stored)
    if out and not out.endswith(b"\n"):
        out += b"\r\n"
    return out


# The unprivileged account `popbox serve` drops to (scripts/test creates it).
TEST_USER = "popboxtest"


def test_ids():
    """(uid, gid) of TEST_USER."""
    pw = pwd.getpwnam(TEST_USER)
    return pw.pw_uid, pw.pw_gid


def chown_tree(path, uid=None, gid=None):
    """Gives `path` and everything below it (symlinks themselves, not their
    targets) to TEST_USER, so the server can use what a test wrote as root."""
    if uid is None:
        uid, gid = test_ids()
    os.chown(path, uid, gid, follow_symlinks=False)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Env:
    """A temporary installation: users, Maildirs, certificate, config."""

    def __init__(self, users=None, apop=False, allow_plaintext="loopback",
                 idle_timeout="10m", failure_delay="50ms", extra_server="", tls=True,
                 extra_sections="", user_extra=None, mail_extra="", run_as=TEST_USER,
                 base_dir=None, cluster=None):
        # base_dir: where the tree goes (default the temp dir; a unit with
        # PrivateTmp= needs one outside /tmp). cluster: True/False overrides
        # POPBOX_IT_CLUSTER.
        self.cluster_mode = CLUSTER if cluster is None else cluster
        self.cluster = None
        self.delivered = set()  # users with Maildir mail to copy at start()
        self.dir = tempfile.mkdtemp(prefix="popbox-it-", dir=base_dir)
        os.chmod(self.dir, 0o755)
        self.mail_root = os.path.join(self.dir, "mail")
        self.users = users or {"alice": "alice-secret", "bob@example.com": "bob secret"}
        self.passwd = os.path.join(self.dir, "users.passwd")
        with open(self.passwd, "w") as f:
            for user, pw in self.users.items():
                extra = (user_extra or {}).get(user, "")
                f.write(f"{user}:{{PLAIN}}{pw}::::::{extra}\n")
        self.cert = os.path.join(self.dir, "cert.pem")
        self.key = os.path.join(self.dir, "key.pem")
        if tls:
            make_cert(self.cert, self.key)
        self.config = os.path.join(self.dir, "popbox.toml")
        tls_section = f'[tls]\ncert = "{self.cert}"\nkey = "{self.key}"\n' if tls else ""
        listen_tls = 'listen_tls = ["127.0.0.1:0"]\n' if tls else ""
        self.run_as = run_as
        server_user = f'user = "{run_as}"\n' if run_as else ""
        with open(self.config, "w") as f:
            f.write(
                f'[server]\nlisten = ["127.0.0.1:0"]\n{listen_tls}{server_user}'
                f'hostname = "pop.test"\nidle_timeout = "{idle_timeout}"\n{extra_server}\n'
                f"{tls_section}"
                f'[auth]\npasswd_file = "{self.passwd}"\nallow_plaintext = "{allow_plaintext}"\n'
                f'apop = {"true" if apop else "false"}\nfailure_delay = "{failure_delay}"\n'
                f'[mail]\nmaildir = "{self.mail_root}/%d/%n/Maildir"\n{mail_extra}'
                f"{extra_sections}"
            )
        self.server = None
        self.chown()

    def chown(self, path=None):
        """Gives the temp tree (or `path` in it) to the server's user."""
        if self.run_as:
            uid, gid = pwd.getpwnam(self.run_as).pw_uid, pwd.getpwnam(self.run_as).pw_gid
            chown_tree(path or self.dir, uid, gid)

    def maildir(self, user):
        local, _, domain = user.partition("@")
        return os.path.join(self.mail_root, domain, local, "Maildir")

    def deliver(self, user, data: bytes, name=None, subdir="new"):
        md = self.maildir(user)
        for d in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, d), exist_ok=True)
        Env._seq += 1
        name = name or f"{int(time.time())}.M{Env._seq}P{os.getpid()}.test,S={len(data)}"
        path = os.path.join(md, subdir, name)
        with open(path, "wb") as f:
            f.write(data)
        # Distinct mtimes keep the arrival order the same as delivery order.
        t = 1_700_000_000 + Env._seq
        os.utime(path, (t, t))
        if self.run_as:
            # Only what this call made: a whole-tree walk per message is slow.
            uid, gid = pwd.getpwnam(self.run_as).pw_uid, pwd.getpwnam(self.run_as).pw_gid
            todo = [path] + [os.path.join(md, d) for d in ("new", "cur", "tmp")]
            d = md
            while len(d) >= len(self.dir):
                todo.append(d)
                d = os.path.dirname(d)
            for p in todo:
                os.chown(p, uid, gid, follow_symlinks=False)
        if self.cluster_mode:
            if self.cluster:
                self.cluster.deliver_late(user, data)
            else:
                self.delivered.add(user)
        return path

    _seq = 0
    cluster_nodes = 2  # popbox serve nodes in cluster mode

    def start(self):
        self.chown()  # what the test wrote since
        if self.cluster_mode:
            import cluster  # not at the top: cluster imports this module

            if self.delivered and not cluster.can_migrate():
                raise unittest.SkipTest(cluster.NO_MIGRATE)
            self.cluster = cluster.Cluster(self.dir, open(self.config).read(),
                                           nodes=self.cluster_nodes, chown=self.chown)
            self.server = self.cluster.start()
            try:
                self.cluster.add_users(self.users)
                self.cluster.import_maildirs(self.delivered)
            except BaseException:
                self.cluster.close()  # setUp failed: no tearDown will
                raise
            return self.server
        self.server = Server(self.config)
        return self.server

    def close(self):
        if self.server:
            self.server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Server:
    """`popbox serve` as a child process; learns its ports from the log."""

    def __init__(self, config):
        self.log_path = config + ".log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([POPBOX, "serve", "--config", config],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.pop3 = self.pop3s = None
        deadline = time.time() + 20
        while time.time() < deadline:
            text = self.log_text()
            plain = re.findall(r"proto=pop3 address=[\d.]+:(\d+)", text)
            tls = re.findall(r"proto=pop3s address=[\d.]+:(\d+)", text)
            lmtp = re.findall(r"proto=lmtp address=[\d.]+:(\d+)", text)
            conf = open(config).read()
            wants_lmtp = re.search(r"\[lmtp\][^\[]*listen\s*=", conf) is not None
            if plain and (tls or "listen_tls" not in conf) and (lmtp or not wants_lmtp):
                self.pop3 = int(plain[0])
                self.pop3s = int(tls[0]) if tls else None
                self.lmtp = int(lmtp[0]) if lmtp else None
                return
            if self.proc.poll() is not None:
                raise RuntimeError("popbox serve exited:\n" + text)
            time.sleep(0.05)
        raise RuntimeError("popbox serve did not start:\n" + self.log_text())

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def kill(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class LineClient:
    """A raw CRLF-line connection (POP3 or LMTP) that reads exactly what the
    server sends: over TCP to `host`:`port` (from `source`, an address such
    as 127.0.0.2, when given), over the unix socket `path`, or over an
    already connected `sock` (plain or Python ssl). `greeting` reads the
    server's first line into `.greeting`. Every read has `timeout`."""

    def __init__(self, port=None, host="127.0.0.1", path=None, source=None, sock=None,
                 timeout=20, greeting=True):
        if sock is not None:
            self.sock = sock
        elif path:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection(
                (host, port), timeout=timeout,
                source_address=(source, 0) if source else None)
        self.buf = b""
        self.greeting = self.line() if greeting else None

    def send(self, data: bytes):
        self.sock.sendall(data)

    def line(self) -> bytes:
        """The next line without its CRLF; EOFError if the peer closes first."""
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def cmd(self, text) -> bytes:
        """Sends `text` (str or bytes) and CRLF; the reply's first line."""
        self.send((text.encode() if isinstance(text, str) else text) + b"\r\n")
        return self.line()

    def multiline(self) -> list:
        """The lines of a multi-line reply up to the "." line, as sent (still
        dot-stuffed)."""
        lines = []
        while (line := self.line()) != b".":
            lines.append(line)
        return lines

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def stop_process(proc, timeout=10):
    """Terminates a child, kills it if it outlives `timeout` seconds, and reaps it."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def numbering_mda(path, out):
    """Writes an MDA script at `path` that stores each message it is given
    as its own file in `out`, numbered in order (0000, 0001, ...): what a
    fetchmail test reads back."""
    with open(path, "w") as f:
        f.write(f'#!/bin/sh\nn=$(ls "{out}" | wc -l)\n'
                f'exec cat > "{out}/$(printf %04d "$n")"\n')
    os.chmod(path, 0o755)
    return path


def wait_for(predicate, timeout=20, what="condition"):
    """Polls `predicate` until it returns something true (which it returns),
    or fails the test after `timeout` seconds naming `what`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def task_status(pid):
    """{task id: {field: [words]}} of /proc/<pid>/task/*/status, for every
    thread of `pid`."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        fields = {}
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields[key] = value.split()
        out[tid] = fields
    return out


def vm_rss_kib(pid):
    """The resident set size of process `pid` in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class RssSampler(threading.Thread):
    """Samples a process's VmRSS every few milliseconds; `peak` in KiB."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = vm_rss_kib(pid)
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            self.peak = max(self.peak, vm_rss_kib(self.pid))
            time.sleep(0.005)

    def stop(self):
        self.stopped.set()
        self.join(5)
        self.peak = max(self.peak, vm_rss_kib(self.pid))
        return self.peak


def make_cert(cert, key, cn="pop.test"):
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
         "-out", cert, "-days", "30", "-subj", f"/CN={cn}",
         "-addext", f"subjectAltName=DNS:{cn},DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True)


def run_tests():
    """unittest main that ends with the plain `N passed, M failed` line."""
    loader = unittest.TestLoader()
    suite = loader.loadTestsFromModule(sys.modules["__main__"])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
