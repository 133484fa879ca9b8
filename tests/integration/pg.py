"""A throwaway PostgreSQL for tests: initdb in a temp dir as the unprivileged
`postgres` account (tests run as root; initdb refuses root), pg_ctl with a
unix socket in that dir and optionally a loopback port, a database and a
role for popbox. Built for speed: fsync off, small buffers, trust auth on
the socket and loopback only.

As a program (the C++ unit-test fixture uses it, so both share one recipe):
    python3 pg.py start DIR     prints the DSN; the server keeps running
    python3 pg.py stop DIR      stops it (fast mode) and removes DIR
"""

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PG_BIN = os.environ.get("POPBOX_PG_BIN", "/usr/lib/postgresql/15/bin")
PG_ACCOUNT = "postgres"  # Debian's postgresql package creates it


def available() -> bool:
    """True if the PostgreSQL server binaries are installed."""
    return os.access(os.path.join(PG_BIN, "initdb"), os.X_OK)


class Postgres:
    """One PostgreSQL cluster in its own temp dir. `dsn` reaches database
    `popbox` as role `popbox` over the unix socket; `tcp_dsn` over
    127.0.0.1:port when a port was asked for."""

    def __init__(self, port=None, base=None, db="popbox", role="popbox"):
        if not available():
            raise RuntimeError(f"PostgreSQL not installed: no {PG_BIN}/initdb")
        self.dir = base or tempfile.mkdtemp(prefix="popbox-pg-")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.log = os.path.join(self.dir, "postgres.log")
        self.port = port
        self.db, self.role = db, role
        # With only a unix socket the port just names the socket file.
        self._port = port or 5432
        self._run_as = None
        if os.geteuid() == 0:
            pw = pwd.getpwnam(PG_ACCOUNT)
            self._run_as = (pw.pw_uid, pw.pw_gid)
        os.makedirs(self.sock, exist_ok=True)
        self._give(self.dir)
        self._give(self.sock)
        self._pg("initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                 "--no-locale", "--no-sync")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "shared_buffers = 16MB\nmax_connections = 60\n"
                f"unix_socket_directories = '{self.sock}'\n"
                f"listen_addresses = '{'127.0.0.1' if port else ''}'\nport = {self._port}\n"
            )
        self.start()
        self.psql(f"CREATE ROLE {role} LOGIN")
        self.psql(f"CREATE DATABASE {db} OWNER {role}")

    @property
    def dsn(self) -> str:
        return f"host={self.sock} port={self._port} dbname={self.db} user={self.role}"

    @property
    def tcp_dsn(self) -> str:
        assert self.port, "started without a TCP port"
        return f"postgresql://{self.role}@127.0.0.1:{self.port}/{self.db}"

    def _give(self, path):
        if self._run_as:
            os.chown(path, *self._run_as)

    def _pg(self, tool, *args, check=True):
        cmd = [os.path.join(PG_BIN, tool), *args]
        if self._run_as:
            cmd = ["setpriv", "--reuid", PG_ACCOUNT, "--regid", PG_ACCOUNT, "--init-groups", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, cwd=self.dir)

    def psql(self, sql, db="postgres") -> str:
        """Runs `sql` as the superuser; returns its unaligned output."""
        r = self._pg("psql", "-h", self.sock, "-p", str(self._port), "-U", "postgres", "-d", db,
                     "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql)
        return r.stdout.strip()

    def start(self):
        self._pg("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "30", "start")

    def stop(self):
        """Fast shutdown; sessions are cut, committed data stays."""
        self._pg("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop", check=False)

    def restart(self):
        self.stop()
        self.start()

    def pid(self) -> int:
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def kill9(self):
        """SIGKILL of the postmaster and every backend, like a machine crash."""
        pid = self.pid()
        r = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        for child in [pid] + [int(p) for p in r.stdout.split()]:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
                time.sleep(0.05)
            except ProcessLookupError:
                break

    def close(self):
        """Stops the server and removes its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _main(argv):
    if len(argv) != 3 or argv[1] not in ("start", "stop"):
        print(__doc__, file=sys.stderr)
        return 64
    if argv[1] == "start":
        pg = Postgres(base=argv[2])
        print(pg.dsn)
        return 0
    data = os.path.join(argv[2], "data")
    cmd = [os.path.join(PG_BIN, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid", PG_ACCOUNT, "--regid", PG_ACCOUNT, "--init-groups", *cmd]
    subprocess.run(cmd, capture_output=True)
    shutil.rmtree(argv[2], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
