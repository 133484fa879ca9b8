"""The two servers of bench/compare-dovecot and the measurements around
them: popbox serve and Dovecot (tuned as issue 8 says) on the same tree,
`popbox bench` runs, resident memory, timed logins."""

import os
import poplib
import subprocess
import sys
import time
import json

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
os.environ.setdefault("POPBOX_BIN", os.path.join(HERE, "..", "build", "popbox"))

import dovecot  # noqa: E402
from harness import POPBOX, Server, make_cert, vm_rss_kib  # noqa: E402

from fixture import PASSWORD  # noqa: E402

# Dovecot 2.3 tuned as its documentation advises for load (issue 8).
DOVECOT_TUNING = """\
mail_fsync = optimized
pop3_lock_session = yes
service pop3-login {
  service_count = 0
  process_min_avail = 2
  client_limit = 10000
}
service pop3 {
  service_count = 100
}
auth_cache_size = 10M
default_process_limit = 5000
default_client_limit = 20000
"""


class Popbox:
    """popbox serve as the mail user, plain and implicit-TLS listeners."""

    def __init__(self, work, files, cert, key):
        config = os.path.join(work, "popbox.toml")
        with open(config, "w") as f:
            f.write(f'[server]\nlisten = ["127.0.0.1:0"]\nlisten_tls = ["127.0.0.1:0"]\n'
                    f'hostname = "bench"\nuser = "{dovecot.MAIL_USER}"\n'
                    # 10,000 idle sessions and then some
                    'max_connections = 19000\n'
                    f'[tls]\ncert = "{cert}"\nkey = "{key}"\n'
                    f'[auth]\npasswd_file = "{files["passwd"]}"\nallow_plaintext = "loopback"\n'
                    f'[mail]\nmaildir = "{files["mail"]}/%n/Maildir"\n'
                    # The load generator is one address; Dovecot has no such cap.
                    '[limits]\nmax_connections_per_ip = 100000\n')
        self.server = Server(config)
        self.port, self.tls_port = self.server.pop3, self.server.pop3s
        self.name = "popbox"

    def rss_kib(self):
        return vm_rss_kib(self.server.proc.pid)

    def stop(self):
        self.server.stop()


class Dovecot:
    """Dovecot's POP3 server, tuned, plain and implicit-TLS listeners."""

    def __init__(self, files, cert, key):
        self.dc = dovecot.Dovecot(os.path.join(files["mail"], "%u", "Maildir"), {},
                                  extra_config=DOVECOT_TUNING, passwd_file=files["passwd"],
                                  tls_cert=cert, tls_key=key)
        self.port, self.tls_port = self.dc.port, self.dc.pop3s_port
        self.name = "Dovecot"

    def rss_kib(self):
        total = 0
        for pid in self.dc.pids():
            try:
                total += vm_rss_kib(pid)
            except (OSError, RuntimeError):
                pass  # gone meanwhile, or a zombie
        return total

    def stop(self):
        self.dc.stop()


def start_dovecot(files, cert, key):
    # dovecot.Dovecot chowns its maildir argument; here that is a template
    # (%u): the tree is chowned once by the caller.
    chown = dovecot.chown_tree
    dovecot.chown_tree = lambda *a: None
    try:
        return Dovecot(files, cert, key)
    finally:
        dovecot.chown_tree = chown


def prepare(work, files):
    """Gives the tree to the mail user both servers run as; returns the
    certificate and key."""
    uid, gid = dovecot.mail_user()
    dovecot.chown_tree(files["mail"], uid, gid)
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    make_cert(cert, key, cn="bench")
    for p in (cert, key):
        os.chown(p, uid, gid)
    return cert, key


def bench(port, scenario, seconds, connections, users=None, user=None, tls=False, idle=None,
          label="bench", during_hold=None):
    """Runs `popbox bench --json`; returns its JSON (plus "command"). With
    `during_hold`, calls it once the idle sessions are held."""
    cmd = [POPBOX, "bench", "--port", str(port), "--password", PASSWORD, "--scenario", scenario,
           "--seconds", str(seconds), "--connections", str(connections), "--json",
           "--label", label]
    cmd += ["--users", users] if users else ["--user", user]
    if tls:
        cmd.append("--tls")
    if idle:
        cmd += ["--idle", str(idle)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    extra = None
    if during_hold:
        for line in proc.stderr:
            if line.startswith("popbox bench: holding"):
                extra = during_hold()
                break
    out, err = proc.communicate(timeout=seconds + 900)
    try:
        result = json.loads(out)
    except json.JSONDecodeError:
        raise RuntimeError(f"popbox bench failed: {' '.join(cmd)}\n{out}\n{err}")
    result["command"] = " ".join(os.path.basename(c) if c == POPBOX else c for c in cmd)
    result["during_hold"] = extra
    return result


def timed_login(port, user):
    """Seconds for connect + USER + PASS + STAT (+ QUIT), and the count."""
    start = time.perf_counter()
    c = poplib.POP3("127.0.0.1", port, timeout=600)
    c.user(user)
    c.pass_(PASSWORD)
    count = c.stat()[0]
    elapsed = time.perf_counter() - start
    c.quit()
    return elapsed, count


def drop_caches():
    """True if the page cache could be dropped (root, not in a container
    that forbids it)."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


