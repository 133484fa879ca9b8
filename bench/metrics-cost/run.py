#!/usr/bin/env python3
"""What the metrics cost: `popbox bench` full and login scenarios against
`popbox serve` with [metrics] listen set (and scraped once a second) and
without it, back to back REP times, interleaved so drift hits both alike.
BASE=path also runs a popbox built without the instrumentation (e.g. the
commit before it) the same way. Prints a Markdown table (docs/metrics.md)
of sessions/s and of the server's CPU time per session (utime + stime
from /proc/PID/stat), which a busy machine disturbs far less.

  POPBOX_BIN=build/popbox [BASE=/tmp/popbox-base] [REP=3] [SECONDS=8] \\
      [CONNECTIONS=16] bench/metrics-cost/run.py"""

import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

here = os.path.dirname(os.path.abspath(__file__))
src = os.environ.setdefault("POPBOX_SRC", os.path.join(here, "../.."))
sys.path.insert(0, os.path.join(src, "tests/integration"))
import harness  # noqa: E402

PASSWORD = "bench secret"
USERS = [f"user{i}" for i in range(64)]
BOX = [b"Subject: one\n\nhello\n", b"Subject: two\n\n" + b"line of text\n" * 300]
REP = int(os.environ.get("REP", "3"))
SECONDS = os.environ.get("SECONDS", "8")
CONNECTIONS = os.environ.get("CONNECTIONS", "16")
POPBOX = harness.POPBOX


def start(binary, metrics):
    # The bench is one address: lift the per-address limit.
    extra = "[limits]\nmax_connections_per_ip = 1000\n"
    extra += '[metrics]\nlisten = "127.0.0.1:0"\n' if metrics else ""
    env = harness.Env(users={u: PASSWORD for u in USERS}, extra_server="threads = 2\n",
                      extra_sections=extra)
    for u in USERS:
        for m in BOX:
            env.deliver(u, m)
    env.users_file = os.path.join(env.dir, "bench-users")
    with open(env.users_file, "w") as f:
        f.write("\n".join(USERS) + "\n")
    harness.POPBOX = binary
    server = env.start()
    env.metrics_port = None
    if metrics:
        env.metrics_port = int(re.search(r"proto=metrics address=[\d.]+:(\d+)",
                                         server.log_text()).group(1))
    return env


def scraper(port, stop):
    while not stop.is_set():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            r.read()
        stop.wait(1)


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench(env, scenario):
    cmd = [POPBOX, "bench", "--port", str(env.server.pop3), "--password", PASSWORD,
           "--users", env.users_file, "--scenario", scenario, "--seconds", SECONDS,
           "--connections", CONNECTIONS, "--threads", "1", "--json"]
    cpu = cpu_seconds(env.server.proc.pid)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    cpu = cpu_seconds(env.server.proc.pid) - cpu
    j = json.loads(r.stdout)
    assert not j.get("errors"), j.get("errors")
    return j["sessions_per_s"], 1e6 * cpu / j["sessions"]


variants = [("metrics off", POPBOX, False), ("metrics on, scraped 1/s", POPBOX, True)]
if os.environ.get("BASE"):
    variants.insert(0, ("no instrumentation (BASE)", os.environ["BASE"], False))
envs = [(name, start(binary, m)) for name, binary, m in variants]
results = {(name, s): [] for name, _ in envs for s in ("full", "login")}
try:
    for scenario in ("full", "login"):
        for rep in range(REP):
            for name, env in envs:
                stop = threading.Event()
                t = None
                if env.metrics_port:
                    t = threading.Thread(target=scraper, args=(env.metrics_port, stop))
                    t.start()
                try:
                    results[(name, scenario)].append(bench(env, scenario))
                finally:
                    stop.set()
                    if t:
                        t.join()
                rate, cpu = results[(name, scenario)][-1]
                print(f"{scenario} {name} run {rep + 1}: {rate:.0f}/s, {cpu:.0f} us CPU/session",
                      file=sys.stderr, flush=True)
finally:
    for _, env in envs:
        env.close()

print(f"| scenario | server | sessions/s, {REP} runs | median | server CPU µs/session, "
      f"{REP} runs | median |")
print("|---|---|---|---|---|---|")
for scenario in ("full", "login"):
    for name, _ in envs:
        rates = [r for r, _ in results[(name, scenario)]]
        cpus = [c for _, c in results[(name, scenario)]]
        print(f"| {scenario} | {name} | {', '.join(f'{r:,.0f}' for r in rates)} | "
              f"{statistics.median(rates):,.0f} | {', '.join(f'{c:.0f}' for c in cpus)} | "
              f"{statistics.median(cpus):.0f} |")
