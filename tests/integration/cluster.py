"""A popbox cluster for tests: a throwaway PostgreSQL (pg.py), `popbox db
migrate`, N `popbox serve` nodes on it (each its own config, log and admin
socket; listeners on 127.0.0.1:0) and HAProxy in front of them (TCP mode,
foreground child). Everything is stopped at close(), at interpreter exit
too, whatever failed on the way.

HAProxy frontends, all on 127.0.0.1:
  pop3   balanced to the nodes' POP3 ports with send-proxy-v2; the health
         check sends a PROXY v2 LOCAL header and expects the +OK greeting.
  pop3s  TLS passthrough to the nodes' POP3S ports (send-proxy-v2 before
         the handshake), tracking pop3's health. The nodes terminate TLS
         because they must: ALPN's cross-protocol check, SCRAM-SHA-256-PLUS
         channel binding and STLS all need the TLS session itself, and no
         private key has to live on the balancer.
  lmtp   balanced to the nodes' LMTP ports, health check on the 220
         greeting. No PROXY header: popbox's LMTP does not read one (only
         the MTA talks to it, so the peer's address buys nothing).

The nodes trust PROXY headers from 127.0.0.1/32 only (HAProxy's source),
so a test that talks to a node directly connects from DIRECT_SOURCE.
"""

import atexit
import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess

import pg
from harness import POPBOX, LineClient, Server, free_port, stop_process, wait_for, wire_form

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
PROXY_SOURCE = "127.0.0.1/32"  # where HAProxy connects to the nodes from
DIRECT_SOURCE = "127.0.0.3"  # a loopback address the nodes do not trust as a proxy
CHECK_INTERVAL = "300ms"  # health check period: a dead node is down after 2 misses


NO_MIGRATE = ("cluster mode copies Env.deliver()'s Maildir mail with `popbox migrate "
              "maildir-to-postgres`, which this popbox does not have yet")


def can_migrate():
    """True if this popbox has `migrate maildir-to-postgres`."""
    r = subprocess.run([POPBOX, "migrate", "maildir-to-postgres", "--help"],
                       capture_output=True, timeout=30)
    return r.returncode == 0


def lmtp(port, rcpts, data, sender="s@example.org", host="127.0.0.1", source=None):
    """Sends `data` (CRLF line ends, ending in CRLF) to `rcpts` in one LMTP
    transaction; the reply lines after DATA, one per recipient (RFC 2033
    4.2), or the first refusal."""
    with LineClient(port, host=host, source=source) as c:
        c.send(b"LHLO client.test\r\n")
        while not c.line().startswith(b"250 "):
            pass
        reply = c.cmd(f"MAIL FROM:<{sender}>")
        if not reply.startswith(b"250"):
            return [reply]
        for r in rcpts:
            reply = c.cmd(f"RCPT TO:<{r}>")
            if not reply.startswith(b"250"):
                return [reply]
        reply = c.cmd("DATA")
        if not reply.startswith(b"354"):
            return [reply]
        stuffed = b"." + data if data.startswith(b".") else data
        c.send(stuffed.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        return [c.line() for _ in rcpts]


def sql_text(value):
    """`value` as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def available():
    """Why a cluster cannot run here, or None."""
    if not pg.available():
        return "PostgreSQL is not installed (scripts/deps)"
    if not os.access(HAPROXY, os.X_OK):
        return "haproxy is not installed (scripts/deps)"
    return None


def node_config(template, node_dir, dsn):
    """`template` (a popbox.toml text: users, TLS, limits) made into one
    cluster node's config: the postgres store and users table ([auth] source
    = "postgres"; the template's passwd-file only seeds it, see
    Cluster.add_users), PROXY trusted from HAProxy, an LMTP listener and an
    admin socket of its own."""
    text = template.replace(
        "[server]\n", f'[server]\ntrusted_proxies = ["{PROXY_SOURCE}"]\n', 1)
    if "source =" not in text:
        text = text.replace("[auth]\n", '[auth]\nsource = "postgres"\n', 1)
    if "[lmtp]" not in text:
        text += '[lmtp]\nlisten = ["127.0.0.1:0"]\n'
    text += f'[store]\nbackend = "postgres"\ndsn = "{dsn}"\npool_size = 8\n'
    text += f'[admin]\nsocket = "{node_dir}/admin.sock"\n'
    return text


def haproxy_config(nodes, ports, stats_socket):
    """The haproxy.cfg text for `nodes` (harness.Server objects) with the
    frontends on `ports` ({"pop3": p, "pop3s": p, "lmtp": p})."""
    out = [
        "global",
        "  maxconn 2000",
        f"  stats socket {stats_socket} mode 600 level admin",
        "defaults",
        "  mode tcp",
        "  timeout connect 2s",
        "  timeout check 2s",
        # Longer than [server] idle_timeout: the nodes end idle sessions.
        "  timeout client 15m",
        "  timeout server 15m",
        # A connection refused by a node that just died goes to another.
        "  retries 3",
        "  option redispatch 1",
        f"  default-server inter {CHECK_INTERVAL} fall 2 rise 1",
    ]
    backends = {
        # `connect default`: the server line's check-send-proxy applies.
        "pop3": ("pop3", ["  option tcp-check", "  tcp-check connect default",
                          "  tcp-check expect string +OK", "  tcp-check send QUIT\\r\\n",
                          "  tcp-check expect string +OK"],
                 "send-proxy-v2 check check-send-proxy"),
        "pop3s": ("pop3s", [], "send-proxy-v2 track pop3_nodes/{name}"),
        "lmtp": ("lmtp", ["  option tcp-check", "  tcp-check connect",
                          "  tcp-check expect rstring ^220", "  tcp-check send QUIT\\r\\n",
                          "  tcp-check expect rstring ^221"],
                 "check"),
    }
    for proto, (attr, checks, options) in backends.items():
        if ports.get(proto) is None:
            continue
        out += [f"frontend {proto}", f"  bind 127.0.0.1:{ports[proto]}",
                f"  default_backend {proto}_nodes", f"backend {proto}_nodes",
                "  balance roundrobin", *checks]
        for i, node in enumerate(nodes):
            name = f"node{i + 1}"
            out.append(f"  server {name} 127.0.0.1:{getattr(node, attr)} "
                       + options.format(name=name))
    return "\n".join(out) + "\n"


class Frontends:
    """What a test connects to, shaped like harness.Server: pop3, pop3s and
    lmtp are HAProxy's ports; log_text() is every node's log."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.pop3 = cluster.ports["pop3"]
        self.pop3s = cluster.ports.get("pop3s")
        self.lmtp = cluster.ports["lmtp"]

    def log_text(self):
        """The nodes' logs without HAProxy's health checks (POP3 sessions
        whose PROXY header named no client), so a test sees its own
        sessions only."""
        return "".join(without_checks(n.log_text()) for n in self.cluster.nodes)

    def kill(self, sig):
        """Sends `sig` (SIGHUP: reload, after the passwd-file's edits went
        into the users table) to every live node."""
        if sig == signal.SIGHUP:
            self.cluster.sync_users()
        for n in self.cluster.live_nodes():
            n.kill(sig)

    def stop(self):
        self.cluster.close()


def without_checks(log):
    """`log` (one node's) without the lines of health-check sessions."""
    checks = set(re.findall(r"session=(\d+) event=connect (?!.* proxy=)", log))
    return "".join(line for line in log.splitlines(keepends=True)
                   if (m := re.search(r"session=(\d+) ", line)) is None
                   or m.group(1) not in checks)


class Cluster:
    """PostgreSQL, `nodes` popbox serve processes and HAProxy in `base_dir`.
    `template` is the popbox.toml every node starts from (see node_config);
    `run_as` the account that must be able to read what is written there."""

    def __init__(self, base_dir, template, nodes=2, chown=None):
        self.dir = base_dir
        self.template = template
        self.count = nodes
        self.chown = chown or (lambda path: None)
        self.pg = None
        self.nodes = []
        self.configs = []
        self.haproxy = None
        self.ports = {}
        self.stats_socket = os.path.join(base_dir, "haproxy.sock")
        self.closed = False
        atexit.register(self.close)

    def start(self):
        """Starts everything; returns the Frontends. On failure what was
        started is stopped again before the exception goes on."""
        try:
            self.pg = pg.Postgres()  # its own temp dir: Env.chown() must not touch it
            for i in range(self.count):
                node_dir = os.path.join(self.dir, f"node{i + 1}")
                os.makedirs(node_dir, exist_ok=True)
                path = os.path.join(node_dir, "popbox.toml")
                with open(path, "w") as f:
                    f.write(node_config(self.template, node_dir, self.pg.dsn))
                self.configs.append(path)
                self.chown(node_dir)
            self.popbox("db", "migrate", "-c", self.configs[0])
            self.nodes = [Server(c) for c in self.configs]
            self.start_haproxy()
            return Frontends(self)
        except BaseException:
            self.close()
            raise

    def popbox(self, *args, stdin=None):
        """Runs a popbox verb; its stdout. Fails with its stderr."""
        r = subprocess.run([POPBOX, *args], input=stdin, capture_output=True, text=True,
                           timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"popbox {' '.join(args)}: exit {r.returncode}\n{r.stderr}")
        return r.stdout

    def add_users(self, users):
        """Makes `users` ({name: password}) and every other entry of the
        template's passwd-file able to log in on every node: `popbox user
        add --db` for each one the users table lacks (home and extra fields
        as in the file), then the file's stored password as it is ({PLAIN}
        in tests), so that APOP and SCRAM work as on one node."""
        m = re.search(r'^passwd_file = "([^"]+)"', self.template, re.M)
        if not m or 'source = "postgres"' not in open(self.configs[0]).read():
            return
        present = set(self.popbox("user", "list", "--db", "-c", self.configs[0]).split())
        with open(m.group(1)) as f:
            entries = [line.rstrip("\n").split(":", 7) for line in f
                       if line.strip() and not line.startswith("#")]
        updates = []
        for fields in entries:
            fields += [""] * (8 - len(fields))
            name, stored, home, extra = fields[0], fields[1], fields[5], fields[7]
            if name not in present:
                args = ["user", "add", "--db", "-c", self.configs[0], "--password-stdin", name]
                args += ["--home", home] if home else []
                args += ["--extra", extra] if extra else []
                self.popbox(*args, stdin=users.get(name, "unused") + "\n")
                present.add(name)
            if stored:
                updates.append(f"UPDATE users SET password = {sql_text(stored)} "
                               f"WHERE name = {sql_text(name)};")
        if updates:
            self.pg.psql("".join(updates), db="popbox")

    def sync_users(self):
        """Takes an edited passwd-file (test_sighup_reloads_users) into the
        users table before the nodes reload, as an operator would."""
        self.add_users({})

    def import_maildirs(self, users, config=None):
        """Copies the Maildirs of `users` (the template's [mail] maildir)
        into PostgreSQL, bytes and UIDLs exact, before any client logs in."""
        for user in sorted(users):
            self.popbox("migrate", "maildir-to-postgres", "--config", config or self.configs[0],
                        "--user", user)

    def deliver_late(self, user, data):
        """Mail Env.deliver() wrote after start(): it arrives over LMTP
        through HAProxy, as mail reaches a running cluster (a copy by
        `popbox migrate` would wait for the maildrop lock a test's open
        session holds). LMTP adds its Return-Path/Delivered-To lines and
        CRLF line ends, so only counts, not bytes, are as in the Maildir."""
        replies = lmtp(self.ports["lmtp"], [user], wire_form(data))
        if not all(r.startswith(b"250") for r in replies):
            raise RuntimeError(f"LMTP delivery to {user} failed: {replies}")

    def start_haproxy(self):
        self.ports = {"pop3": free_port(), "lmtp": free_port()}
        if self.nodes[0].pop3s:
            self.ports["pop3s"] = free_port()
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(haproxy_config(self.nodes, self.ports, self.stats_socket))
        self.haproxy_log = open(os.path.join(self.dir, "haproxy.log"), "wb")
        self.haproxy = subprocess.Popen([HAPROXY, "-db", "-f", cfg], stdout=self.haproxy_log,
                                        stderr=subprocess.STDOUT)
        wait_for(lambda: self.haproxy.poll() is not None or self.all_up(),
                 timeout=20, what="haproxy and every node's health check")
        if self.haproxy.poll() is not None:
            raise RuntimeError("haproxy exited:\n" + self.haproxy_text())

    def haproxy_text(self):
        with open(os.path.join(self.dir, "haproxy.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def server_status(self, backend="pop3_nodes"):
        """{node name: HAProxy status ("UP", "DOWN", ...)} from the stats
        socket; {} while HAProxy is not answering yet. A node counts as UP
        only once a health check has passed (HAProxy starts servers UP)."""
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(5)
                s.connect(self.stats_socket)
                s.sendall(b"show stat\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
        except OSError:
            return {}
        rows = csv.DictReader(io.StringIO(data.decode().lstrip("# ")))
        return {r["svname"]: "UP" if r["status"] == "UP" and r["check_status"] == "L7OK"
                else r["status"].split()[0] for r in rows if r["pxname"] == backend and r["svname"] not in ("FRONTEND", "BACKEND")}

    def statuses(self, name):
        """HAProxy's view of node `name` in the POP3 and the LMTP backend."""
        return (self.server_status("pop3_nodes").get(name),
                self.server_status("lmtp_nodes").get(name))

    def all_up(self):
        return all(self.statuses(f"node{i + 1}") == ("UP", "UP") for i in range(self.count))

    def wait_down(self, index, timeout=20):
        """Waits until HAProxy's health checks mark node `index` down."""
        name = f"node{index + 1}"
        wait_for(lambda: self.statuses(name) == ("DOWN", "DOWN"), timeout=timeout,
                 what=f"haproxy marking {name} down")

    def live_nodes(self):
        return [n for n in self.nodes if n.proc.poll() is None]

    def who(self, index):
        """The live POP3 sessions of node `index` (`popbox who --json`)."""
        return json.loads(self.popbox("who", "--json", "-c", self.configs[index]))

    def close(self):
        """Stops HAProxy, the nodes and PostgreSQL; safe to call twice."""
        if self.closed:
            return
        self.closed = True
        if self.haproxy:
            stop_process(self.haproxy)
        if self.haproxy:
            self.haproxy_log.close()
        for n in self.nodes:
            n.stop()
        if self.pg:
            self.pg.close()
