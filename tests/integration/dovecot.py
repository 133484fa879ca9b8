"""Dovecot's POP3 server as a child process, for side-by-side tests.

`Dovecot(maildir, users)` writes a private configuration (its own base_dir,
state_dir and log in a temporary directory, POP3 only, plaintext allowed on
a free loopback port, no TLS), starts `dovecot -F -c CONF` and waits until
the listener greets (optionally also an implicit-TLS listener, and a
ready passwd-file with hashed passwords). Dovecot refuses to access mail as root, so the mail
processes run as the system user `popboxtest` (created if missing) and the
Maildir tree is chowned to it; popbox runs as root and can still read it.
"""

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
MAIL_USER = "popboxtest"


def available() -> bool:
    """True when a dovecot binary with POP3 support is installed."""
    return os.access(DOVECOT, os.X_OK) and os.path.exists("/usr/lib/dovecot/pop3")


def mail_user():
    """(uid, gid) of the unprivileged user that owns the Maildir for Dovecot."""
    try:
        pw = pwd.getpwnam(MAIL_USER)
    except KeyError:
        try:
            grp.getgrnam(MAIL_USER)
            group = ["--gid", MAIL_USER]  # a group of that name is left over
        except KeyError:
            group = ["--user-group"]
        subprocess.run(["useradd", "--system", "--no-create-home", *group,
                        "--shell", "/usr/sbin/nologin", MAIL_USER],
                       check=True, capture_output=True, timeout=30)
        pw = pwd.getpwnam(MAIL_USER)
    return pw.pw_uid, pw.pw_gid


def chown_tree(path, uid, gid):
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dovecot:
    """A private Dovecot POP3 instance serving one Maildir for `users`
    ({name: plaintext password}). Call stop() (or use as a context manager)."""

    def __init__(self, maildir, users, extra_config="", start_timeout=20, passwd_file=None,
                 tls_cert=None, tls_key=None):
        self.dir = tempfile.mkdtemp(prefix="popbox-dovecot-")
        os.chmod(self.dir, 0o755)  # the login and mail processes traverse it
        self.maildir = maildir
        self.users = users
        self.uid, self.gid = mail_user()
        self.home = os.path.join(self.dir, "home")
        os.makedirs(self.home)
        os.chown(self.home, self.uid, self.gid)
        chown_tree(maildir, self.uid, self.gid)
        if passwd_file:
            # A ready passwd-file (any {SCHEME}); `users` is then informative.
            self.passwd = passwd_file
        else:
            self.passwd = os.path.join(self.dir, "users.passwd")
            with open(self.passwd, "w") as f:
                for user, pw in users.items():
                    f.write(f"{user}:{{PLAIN}}{pw}::::::\n")
            os.chmod(self.passwd, 0o644)
        # Optional implicit-TLS listener (pop3s_port) with this certificate.
        self.tls_cert, self.tls_key = tls_cert, tls_key
        self.pop3s_port = None
        self.log_path = os.path.join(self.dir, "dovecot.log")
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.proc = None
        self.port = None
        for _ in range(5):  # a free port can be taken before Dovecot binds it
            self.port = _free_port()
            if self.tls_cert:
                self.pop3s_port = _free_port()
            self._write_config(extra_config)
            if self._start(start_timeout):
                return
        log = self.log_text()
        self.stop()
        raise RuntimeError("dovecot did not start:\n" + log)

    def _write_config(self, extra):
        if self.tls_cert:
            ssl = f"ssl = yes\nssl_cert = <{self.tls_cert}\nssl_key = <{self.tls_key}"
            pop3s = f"address = 127.0.0.1\n    port = {self.pop3s_port}"
        else:
            ssl, pop3s = "ssl = no", "port = 0"
        with open(self.conf, "w") as f:
            f.write(f"""\
base_dir = {self.dir}/run
state_dir = {self.dir}/state
instance_name = popbox-test-{os.getpid()}-{self.port}
protocols = pop3
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
pop3_lock_session = yes
mail_location = maildir:{self.maildir}
first_valid_uid = {self.uid}
last_valid_uid = {self.uid}
first_valid_gid = {self.gid}
last_valid_gid = {self.gid}
log_path = {self.log_path}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.passwd}
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={self.home}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener pop3s {{
    {pop3s}
  }}
}}
{extra}
""")

    def _start(self, timeout):
        with open(self.log_path, "ab") as err:
            self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=err, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.settimeout(5)
                    greeting = s.recv(512)
                    if greeting.startswith(b"+OK") and b"Dovecot" in greeting:
                        s.sendall(b"QUIT\r\n")
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        self._kill()
        return False

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def _kill(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the master stops its children
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever is left of the group
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait(5)
        self.proc = None

    def mail_session_pids(self):
        """This instance's POP3 mail processes: one per logged-in session
        (or one waiting for the maildrop lock)."""
        pids = []
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() == "pop3":
                        pids.append(pid)
            except OSError:
                continue  # gone meanwhile
        return pids

    def wait_idle(self, timeout):
        """True once no mail session is left, False after `timeout` s."""
        deadline = time.time() + timeout
        while self.mail_session_pids():
            if time.time() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def end_orphaned_sessions(self, grace=30):
        """Ends the sessions that outlive their killed clients. Most end by
        themselves once Dovecot notices, but one whose client vanished right
        after login can sit with no connection, keeping the maildrop lock
        (pop3_lock_session) fresh until Dovecot's 10-minute idle logout,
        so every new login meanwhile waits and gets [IN-USE]. After `grace`
        seconds those get SIGTERM: a session ended without QUIT deletes
        nothing (RFC 1939 section 6), just like the killed client's."""
        if self.wait_idle(grace):
            return
        for pid in self.mail_session_pids():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if not self.wait_idle(30):
            raise RuntimeError("Dovecot mail sessions survive SIGTERM")

    def pids(self):
        """Every process of this instance: the master and all it started
        (they share the session Dovecot was started in)."""
        if self.proc is None:
            return []
        pids = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                if os.getsid(int(pid)) == self.proc.pid:
                    pids.append(int(pid))
            except OSError:
                continue  # gone meanwhile
        return pids

    def stop(self):
        """Stops Dovecot and removes its directory; the Maildir stays, still
        owned by the mail user (root can read and write it)."""
        self._kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
