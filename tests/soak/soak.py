#!/usr/bin/env python3
"""Bounded soak test: the real `popbox serve` under a storm of hostile
connections while real sessions keep logging in and retrieving mail.

Loopback only, bounded counts, at most ~2 minutes. Hostile kinds:
  garbage   random bytes, overlong lines, NULs, then hang up
  stall     connect (some send half a line) and say nothing for seconds
  tls_drop  hang up in the middle of a TLS handshake (POP3S and STLS)
  retr_drop log in, RETR a large message, hang up (some with RST) mid-way
  pipeline  one write of hundreds of commands, junk and failed logins
Meanwhile real sessions (plain USER/PASS and POP3S) log in, list, and RETR
every message, compared byte for byte with harness.wire_form().

Reports peak RSS (VmHWM) of the server, sessions served, connections of each
kind and their outcomes, and errors. Exits non-zero when a real session got
wrong bytes or failed, the server died, its file descriptors did not come
back down, a maildrop stayed locked, or peak RSS passed SOAK_MAX_RSS_MB.

Environment: POPBOX_BIN, POPBOX_SRC (as for the integration tests),
SOAK_SECONDS (storm length, default 60, at most 90), SOAK_SCALE (multiplies
the connection counts, default 1.0), SOAK_MAX_RSS_MB (default 512).
"""

import asyncio
import collections
import os
import random
import re
import resource
import ssl
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402

STORM_SECONDS = min(float(os.environ.get("SOAK_SECONDS", "60")), 90.0)
SCALE = float(os.environ.get("SOAK_SCALE", "1.0"))
MAX_RSS_MB = int(os.environ.get("SOAK_MAX_RSS_MB", "512"))
HARD_DEADLINE = 115.0  # seconds for the whole run, setup included

# How many hostile connections of each kind, and how many at once.
COUNTS = {k: int(v * SCALE) for k, v in
          {"garbage": 1500, "stall": 600, "tls_drop": 1000, "retr_drop": 300,
           "pipeline": 600}.items()}
HOSTILE_CONCURRENCY = 300
STALL_CONCURRENCY = 400  # stalls hold their socket for seconds
REAL_WORKERS = 4
IO_TIMEOUT = 20.0  # any single read or connect of a real session
LARGE_SIZE = 3 << 20  # the message retr_drop hangs up in

REAL_USERS = {f"real{i}": f"real-secret-{i}" for i in range(REAL_WORKERS)}
BULK_USERS = {f"bulk{i}": f"bulk-secret-{i}" for i in range(16)}
HOSTILE_SOURCES = ["127.0.0.1"] + [f"127.0.0.{i}" for i in range(3, 11)]
REAL_SOURCE = "127.0.0.2"


def large_message(seed: int) -> bytes:
    rnd = random.Random(seed)
    lines = [b"Subject: large", b"X-Seed: %d" % seed, b""]
    size = 0
    while size < LARGE_SIZE:
        n = rnd.choice([0, 1, 40, 76, 998, 5000])
        line = (b"." if rnd.random() < 0.1 else b"") + bytes(rnd.choice(b"abc.xyz \t") for _ in
                                                             range(n))
        lines.append(line)
        size += len(line) + 1
    return b"\n".join(lines) + b"\n"


class Stats:
    def __init__(self):
        self.started = collections.Counter()
        self.outcomes = collections.Counter()  # (kind, outcome)
        self.sessions = 0
        self.sessions_tls = 0
        self.messages = 0
        self.bytes = 0
        self.errors = []  # real-session failures: these fail the run
        self.peak_hwm = 0
        self.peak_rss = 0

    def error(self, what):
        if len(self.errors) < 50:
            self.errors.append(what)


def outcome_of(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "closed"
    if isinstance(exc, ssl.SSLError):
        return "tls_error"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, OSError):
        return f"oserror_{exc.errno}"
    return type(exc).__name__


async def connect(port, source, tls=None):
    return await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=tls, local_addr=(source, 0),
                                limit=1 << 20, server_hostname="" if tls else None),
        IO_TIMEOUT)


def abort(writer, rst=False):
    """Closes without a goodbye; with rst, a TCP reset (SO_LINGER 0)."""
    sock = writer.get_extra_info("socket")
    if rst and sock is not None:
        import socket
        import struct
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


async def read_line(reader, timeout=IO_TIMEOUT):
    return await asyncio.wait_for(reader.readuntil(b"\r\n"), timeout)


async def drain_until_closed(reader, seconds):
    """Reads until the server closes or `seconds` pass; returns the outcome."""
    deadline = time.monotonic() + seconds
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "still_open"
            data = await asyncio.wait_for(reader.read(65536), left)
            if not data:
                return "closed_by_server"
    except asyncio.TimeoutError:
        return "still_open"  # the server waits for the rest of a line
    except Exception as exc:  # noqa: BLE001 - every end is an outcome here
        return outcome_of(exc)


class Soak:
    def __init__(self, env, stats):
        self.env = env
        self.stats = stats
        self.pop3 = env.server.pop3
        self.pop3s = env.server.pop3s
        self.client_tls = ssl.create_default_context()
        self.client_tls.check_hostname = False
        self.client_tls.verify_mode = ssl.CERT_NONE
        self.expected = {}  # user -> sorted list of wire forms
        self.rnd = random.Random(7)
        self.storm_over = asyncio.Event()

    def source(self):
        return self.rnd.choice(HOSTILE_SOURCES)

    # ---- real sessions ----
    async def login(self, reader, writer, user, password):
        greeting = await read_line(reader)
        if not greeting.startswith(b"+OK"):
            raise RuntimeError(f"greeting {greeting!r}")
        for cmd in (b"USER " + user.encode(), b"PASS " + password.encode()):
            writer.write(cmd + b"\r\n")
            reply = await read_line(reader)
            if not reply.startswith(b"+OK"):
                raise RuntimeError(f"{cmd.split()[0].decode()} refused: {reply!r}")

    async def multiline(self, reader):
        out = []
        while True:
            line = await read_line(reader)
            if line == b".\r\n":
                return b"".join(out)
            out.append(line[1:] if line.startswith(b".") else line)

    async def real_session(self, user, password, tls):
        reader, writer = await connect(self.pop3s if tls else self.pop3, REAL_SOURCE,
                                       self.client_tls if tls else None)
        try:
            await self.login(reader, writer, user, password)
            writer.write(b"STAT\r\n")
            stat = (await read_line(reader)).split()
            count = int(stat[1])
            want = self.expected[user]
            if count != len(want) or int(stat[2]) != sum(len(w) for w in want):
                raise RuntimeError(f"STAT {stat!r}, expected {len(want)} messages")
            got = []
            # Pipelined: every RETR in one write, the replies in order.
            writer.write(b"".join(b"RETR %d\r\n" % i for i in range(1, count + 1)))
            for i in range(1, count + 1):
                status = await read_line(reader)
                if not status.startswith(b"+OK"):
                    raise RuntimeError(f"RETR {i}: {status!r}")
                got.append(await self.multiline(reader))
            if sorted(got) != want:
                bad = sum(1 for g in got if g not in want)
                raise RuntimeError(f"wrong bytes in {bad} of {count} messages")
            writer.write(b"QUIT\r\n")
            if not (await read_line(reader)).startswith(b"+OK"):
                raise RuntimeError("QUIT refused")
            self.stats.messages += count
            self.stats.bytes += sum(len(g) for g in got)
            self.stats.sessions += 1
            self.stats.sessions_tls += tls
        finally:
            writer.close()

    async def real_worker(self, n):
        user = f"real{n}"
        i = 0
        # Keep going until the storm is over, and at least 5 sessions each.
        while not self.storm_over.is_set() or i < 5:
            tls = i % 2 == 1
            try:
                await self.real_session(user, REAL_USERS[user], tls)
            except Exception as exc:  # noqa: BLE001
                self.stats.error(f"real session {user} #{i} ({'tls' if tls else 'plain'}): "
                                 f"{outcome_of(exc) if not isinstance(exc, RuntimeError) else exc}")
            i += 1
            await asyncio.sleep(0.02)  # leave the event loop to the storm

    # ---- hostile connections ----
    async def garbage(self):
        reader, writer = await connect(self.pop3, self.source())
        try:
            r = self.rnd.random()
            if r < 0.3:
                data = os.urandom(self.rnd.randint(1, 4096))
            elif r < 0.5:
                data = b"A" * self.rnd.randint(8000, 40000)  # past max_line, no newline
            elif r < 0.7:
                data = b"USER \x00\xff\r\n" + b"\x00" * 500 + b"\r\n"
            else:
                data = b"".join(os.urandom(self.rnd.randint(0, 30)).replace(b"\n", b"") + b"\r\n"
                                for _ in range(40))
            writer.write(data)
            return await drain_until_closed(reader, 3)
        finally:
            abort(writer)

    async def stall(self):
        reader, writer = await connect(self.pop3, self.source())
        try:
            if self.rnd.random() < 0.5:
                writer.write(b"USER half-a-li")
            await asyncio.sleep(self.rnd.uniform(2, 6))
            return "stalled"
        finally:
            abort(writer)

    def client_hello(self):
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = self.client_tls.wrap_bio(incoming, outgoing)
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return outgoing.read()

    async def tls_drop(self):
        hello = self.client_hello()
        r = self.rnd.random()  # nothing, part of, or all of the ClientHello
        cut = 0 if r < 0.25 else len(hello) if r < 0.5 else self.rnd.randint(1, len(hello) - 1)
        use_stls = self.rnd.random() < 0.3
        reader, writer = await connect(self.pop3s if not use_stls else self.pop3, self.source())
        try:
            if use_stls:
                await read_line(reader, 5)
                writer.write(b"STLS\r\n")
                await read_line(reader, 5)
            writer.write(hello[:cut])
            await writer.drain()
            if self.rnd.random() < 0.5:
                await asyncio.sleep(self.rnd.uniform(0, 0.5))
            return "dropped_at_%s" % ("start" if cut == 0 else "end" if cut == len(hello) else "mid")
        finally:
            abort(writer, rst=self.rnd.random() < 0.5)

    async def retr_drop(self):
        user = self.rnd.choice(list(BULK_USERS))
        reader, writer = await connect(self.pop3, self.source())
        try:
            try:
                await self.login(reader, writer, user, BULK_USERS[user])
            except RuntimeError as exc:
                return "in_use" if "IN-USE" in str(exc) else "login_refused"
            writer.write(b"RETR 1\r\n")
            want = self.rnd.randint(1, LARGE_SIZE // 2)
            got = 0
            while got < want:
                data = await asyncio.wait_for(reader.read(min(65536, want - got)), 10)
                if not data:
                    return "closed_by_server"
                got += len(data)
            return "dropped_mid_retr"
        finally:
            abort(writer, rst=self.rnd.random() < 0.5)

    async def pipeline(self):
        reader, writer = await connect(self.pop3, self.source())
        try:
            parts = []
            for _ in range(self.rnd.randint(50, 400)):
                parts.append(self.rnd.choice([
                    b"NOOP\r\n", b"CAPA\r\n", b"USER nobody\r\n", b"PASS wrong\r\n",
                    b"RETR 1\r\n", b"LIST\r\n", b"AUTH PLAIN\r\n", b"*\r\n", b"STLS\r\n",
                    b"X" * 100 + b"\r\n", os.urandom(20) + b"\r\n", b"\r\n", b"TOP 1 2\r\n"]))
            writer.write(b"".join(parts))
            return await drain_until_closed(reader, 4)
        finally:
            abort(writer)

    async def run_kind(self, kind, fn, count, concurrency):
        sem = asyncio.Semaphore(concurrency)
        deadline = time.monotonic() + STORM_SECONDS

        async def one():
            async with sem:
                if time.monotonic() > deadline:
                    self.stats.outcomes[(kind, "skipped_late")] += 1
                    return
                self.stats.started[kind] += 1
                try:
                    result = await asyncio.wait_for(fn(), 30)
                except Exception as exc:  # noqa: BLE001 - counted, not fatal
                    result = outcome_of(exc)
                self.stats.outcomes[(kind, result)] += 1

        # Spread the starts over the first part of the storm.
        tasks = []
        for i in range(count):
            tasks.append(asyncio.create_task(one()))
            if i % 50 == 49:
                await asyncio.sleep(STORM_SECONDS * 0.6 / max(1, count / 50))
        await asyncio.gather(*tasks)

    async def watch_memory(self, pid):
        while not self.storm_over.is_set():
            self.sample_memory(pid)
            await asyncio.sleep(0.2)

    def sample_memory(self, pid):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        self.stats.peak_hwm = max(self.stats.peak_hwm, int(line.split()[1]))
                    elif line.startswith("VmRSS:"):
                        self.stats.peak_rss = max(self.stats.peak_rss, int(line.split()[1]))
        except OSError:
            pass

    async def run(self, pid):
        watcher = asyncio.create_task(self.watch_memory(pid))
        real = [asyncio.create_task(self.real_worker(n)) for n in range(REAL_WORKERS)]
        kinds = [("garbage", self.garbage, HOSTILE_CONCURRENCY),
                 ("stall", self.stall, STALL_CONCURRENCY),
                 ("tls_drop", self.tls_drop, HOSTILE_CONCURRENCY),
                 ("retr_drop", self.retr_drop, len(BULK_USERS) // 2),
                 ("pipeline", self.pipeline, HOSTILE_CONCURRENCY)]
        await asyncio.gather(*(self.run_kind(k, fn, COUNTS[k], c) for k, fn, c in kinds))
        self.storm_over.set()
        await asyncio.gather(*real)
        await watcher
        self.sample_memory(pid)


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def check_no_lock_left(soak, stats):
    """Every bulk maildrop can be opened again: no session kept its lock."""
    for user, pw in BULK_USERS.items():
        ok = False
        for _ in range(20):  # a dropped session may take a moment to notice
            try:
                reader, writer = await connect(soak.pop3, REAL_SOURCE)
                try:
                    await soak.login(reader, writer, user, pw)
                    writer.write(b"QUIT\r\n")
                    await read_line(reader)
                    ok = True
                finally:
                    writer.close()
                break
            except RuntimeError as exc:
                if "IN-USE" not in str(exc):
                    stats.error(f"{user} after the storm: {exc}")
                    break
                await asyncio.sleep(0.5)
            except Exception as exc:  # noqa: BLE001
                stats.error(f"{user} after the storm: {outcome_of(exc)}")
                break
        if not ok and not any(user in e for e in stats.errors):
            stats.error(f"{user}: maildrop still locked 10 s after the storm")


def main():
    t0 = time.monotonic()
    fd_limit = raise_fd_limit()
    users = dict(REAL_USERS)
    users.update(BULK_USERS)
    env = harness.Env(users=users, failure_delay="50ms", idle_timeout="10m")
    stats = Stats()
    failures = []
    try:
        expected = {}
        for n, user in enumerate(REAL_USERS):
            msgs = list(harness.MESSAGES.values()) + [large_message(n)[:100_000]]
            for data in msgs:
                env.deliver(user, data)
            expected[user] = sorted(harness.wire_form(m) for m in msgs)
        for n, user in enumerate(BULK_USERS):
            env.deliver(user, large_message(100 + n))
        server = env.start()
        pid = server.proc.pid
        time.sleep(0.5)
        fds_before = fd_count(pid)
        soak = Soak(env, stats)
        soak.expected = expected

        async def body():
            await soak.run(pid)
            await check_no_lock_left(soak, stats)

        budget = HARD_DEADLINE - (time.monotonic() - t0) - 10
        try:
            asyncio.run(asyncio.wait_for(body(), budget))
        except asyncio.TimeoutError:
            failures.append(f"soak did not finish within {budget:.0f} s")
        alive = server.proc.poll() is None
        # Connections the clients closed must be gone from the server too.
        fds_after = fd_count(pid)
        for _ in range(50):
            if not alive or fds_after <= fds_before + 8:
                break
            time.sleep(0.2)
            fds_after = fd_count(pid)
        if not alive:
            failures.append(f"server died (exit {server.proc.returncode})")
        elif fds_after > fds_before + 8:
            failures.append(f"server holds {fds_after} fds after the storm, {fds_before} before")
        rc = server.stop()
        if alive and rc not in (0, -15):
            failures.append(f"server exited {rc} on SIGTERM")
    finally:
        log_tail = ""
        server_results = collections.Counter()
        if env.server:
            try:
                log = env.server.log_text()
                log_tail = "\n".join(log.splitlines()[-5:])
                for line in log.splitlines():
                    if "event=disconnect" in line:
                        m = re.search(r" result=(\S+)", line)
                        server_results[m.group(1) if m else "?"] += 1
            except OSError:
                pass
        env.close()

    elapsed = time.monotonic() - t0
    hwm_mb = stats.peak_hwm / 1024
    print(f"soak: {elapsed:.1f} s total, storm {STORM_SECONDS:.0f} s, fd limit {fd_limit}")
    print(f"soak: server peak RSS (VmHWM) {hwm_mb:.1f} MiB, highest VmRSS seen "
          f"{stats.peak_rss / 1024:.1f} MiB (bound {MAX_RSS_MB} MiB)")
    print(f"soak: server fds {fds_before} before, {fds_after} after")
    print(f"soak: server logged {sum(server_results.values())} POP3 disconnects: " +
          ", ".join(f"{r} {n}" for r, n in server_results.most_common()))
    print(f"soak: real sessions served {stats.sessions} ({stats.sessions_tls} POP3S), "
          f"{stats.messages} messages, {stats.bytes} bytes, all byte-exact"
          if not stats.errors else
          f"soak: real sessions served {stats.sessions}, {len(stats.errors)} errors")
    total = sum(stats.started.values())
    print(f"soak: hostile connections {total}:")
    for kind in COUNTS:
        outs = ", ".join(f"{o} {n}" for (k, o), n in sorted(stats.outcomes.items()) if k == kind)
        print(f"  {kind:9} {stats.started[kind]:5}  ({outs})")
    for e in stats.errors:
        print(f"soak: ERROR: {e}")
    if hwm_mb > MAX_RSS_MB:
        failures.append(f"peak RSS {hwm_mb:.0f} MiB above {MAX_RSS_MB} MiB")
    if stats.errors:
        failures.append(f"{len(stats.errors)} real-session errors")
    for f in failures:
        print(f"soak: FAIL: {f}")
    if failures and log_tail:
        print("soak: server log tail:\n" + log_tail)
    print("soak: " + ("FAILED" if failures else "passed"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
