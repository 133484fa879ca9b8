"""Helpers for the `popbox fetch` integration tests: fetch configs, running
the client, reading targets, certificates and pins, a tiny LMTP server."""

import hashlib
import os
import re
import socketserver
import subprocess
import threading
import time

import harness

EX_DATAERR, EX_UNAVAILABLE, EX_IOERR, EX_TEMPFAIL = 65, 69, 74, 75
EX_PROTOCOL, EX_NOPERM, EX_CONFIG = 76, 77, 78


def local_form(stored: bytes) -> bytes:
    """What a Maildir, mbox or MDA receives: the wire form with LF ends."""
    return harness.wire_form(stored).replace(b"\r\n", b"\n")


def write_config(path, *accounts):
    """Writes a fetch config with one [[account]] per dict (TOML values)."""
    with open(path, "w") as f:
        for a in accounts:
            f.write("[[account]]\n")
            for key, value in a.items():
                if value is None:
                    continue
                if isinstance(value, bool):
                    f.write(f"{key} = {'true' if value else 'false'}\n")
                elif isinstance(value, int):
                    f.write(f"{key} = {value}\n")
                else:
                    f.write(f"{key} = {toml_string(value)}\n")
    return path


def toml_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def account(env, name="work", user="alice", mode="none", **extra):
    """An account for `user` on env's server; mode is none|starttls|implicit."""
    srv = env.server
    a = {
        "name": name,
        "host": "127.0.0.1",
        "port": srv.pop3s if mode == "implicit" else srv.pop3,
        "tls": mode,
        "user": user,
        "password": env.users[user],
        "deliver": "maildir:" + os.path.join(env.dir, "out-" + name),
        "state_dir": os.path.join(env.dir, "state"),
        "timeout": "20s",
    }
    if mode != "none":
        a["ca_file"] = env.cert
    a.update(extra)
    return a


def run_fetch(config, *args, now=None, timeout=120):
    env = dict(os.environ)
    env.pop("POPBOX_FETCH_NOW", None)
    if now is not None:
        env["POPBOX_FETCH_NOW"] = str(now)
    return subprocess.run([harness.POPBOX, "fetch", "--config", config, *args],
                          capture_output=True, timeout=timeout, env=env, text=True)


def fetch_retrying(config, *args, attempts=40, budget=300, **kw):
    """Runs fetch until it is not refused with [IN-USE]: after a killed
    client the server needs a moment to notice and unlock the maildrop (on a
    loaded machine Dovecot's session of a killed client can take minutes to
    go), so it tries `attempts` times and for `budget` seconds at least."""
    deadline = time.time() + budget
    tries = 0
    while True:
        r = run_fetch(config, *args, **kw)
        tries += 1
        if r.returncode != EX_TEMPFAIL or "IN-USE" not in r.stderr:
            return r
        if tries >= attempts and time.time() >= deadline:
            return r
        time.sleep(0.1 if tries < attempts else 2)


def maildir_files(path):
    """Contents of every message in new/ and cur/."""
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                out.append(f.read())
    return out


def server_count(env, user="alice"):
    md = env.maildir(user)
    return sum(len(os.listdir(os.path.join(md, s))) for s in ("new", "cur")
               if os.path.isdir(os.path.join(md, s)))


def mbox_from_line(unix_time):
    return ("From MAILER-DAEMON "
            + time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime(unix_time)) + "\n").encode()


def mbox_entry(stored: bytes, unix_time) -> bytes:
    body = re.sub(rb"(?m)^(>*From )", rb">\1", local_form(stored))
    return mbox_from_line(unix_time) + body + b"\n"


def make_cert(cert, key, san, cn="other.test"):
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
         "-days", "30", "-subj", f"/CN={cn}", "-addext", f"subjectAltName={san}"],
        check=True, capture_output=True)


def pin_of(cert):
    """The pin exactly as docs/fetch.md computes it with openssl."""
    cmd = (f"openssl x509 -in {cert} -pubkey -noout | openssl pkey -pubin -outform der"
           " | openssl dgst -sha256 -binary | base64")
    return "sha256:" + subprocess.run(cmd, shell=True, check=True, capture_output=True,
                                      text=True).stdout.strip()


def digest(data: bytes):
    return hashlib.sha256(data).hexdigest()


class LmtpServer:
    """A minimal LMTP server (RFC 2033) that keeps what it receives."""

    def __init__(self, reply_to_data=b"250 2.0.0 delivered"):
        self.messages = []  # (recipients, data) with dot-stuffing removed
        self.reply = reply_to_data
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                w = self.wfile
                w.write(b"220 test LMTP ready\r\n")
                rcpts = []
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    cmd = line.strip().upper()
                    if cmd.startswith(b"LHLO"):
                        w.write(b"250-test\r\n250 PIPELINING\r\n")
                    elif cmd.startswith(b"MAIL FROM"):
                        rcpts = []
                        w.write(b"250 2.1.0 ok\r\n")
                    elif cmd.startswith(b"RCPT TO"):
                        rcpts.append(line.strip()[8:].decode())
                        w.write(b"250 2.1.5 ok\r\n")
                    elif cmd == b"DATA":
                        w.write(b"354 go ahead\r\n")
                        data = b""
                        while True:
                            l = self.rfile.readline()
                            if l in (b".\r\n", b""):
                                break
                            data += l[1:] if l.startswith(b".") else l
                        outer.messages.append((rcpts, data))
                        for _ in rcpts:
                            w.write(outer.reply + b"\r\n")
                    elif cmd == b"QUIT":
                        w.write(b"221 bye\r\n")
                        return
                    else:
                        w.write(b"250 ok\r\n")

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
