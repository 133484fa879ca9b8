#!/usr/bin/env python3
"""msgs/s of `popbox fetch` into a Maildir and into an mbox: N small
messages in a local `popbox serve` maildrop, fetched in keep mode with a
fresh state each time (so every run downloads all N), REP times per
target, interleaved. Prints a Markdown table (docs/fetch.md). BASE=path
runs a second popbox binary (e.g. one built before a change) the same way.

  POPBOX_BIN=build/popbox [BASE=/tmp/popbox-base] [N=1000] [REP=3] \\
      bench/fetch-targets/run.py"""

import os
import shutil
import statistics
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
src = os.environ.setdefault("POPBOX_SRC", os.path.join(here, "../.."))
sys.path.insert(0, os.path.join(src, "tests/integration"))
import harness  # noqa: E402
from fetch_helpers import account, write_config  # noqa: E402

N = int(os.environ.get("N", "1000"))
REP = int(os.environ.get("REP", "3"))


def one_run(binary, env, kind):
    out = os.path.join(env.dir, "out")
    state = os.path.join(env.dir, "state")
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(state, ignore_errors=True)
    if os.path.exists(out):
        os.unlink(out)
    config = os.path.join(env.dir, "fetch.toml")
    write_config(config, account(env, keep=True, deliver=f"{kind}:{out}", state_dir=state))
    started = time.monotonic()
    r = subprocess.run([binary, "fetch", "--quiet", "--config", config], capture_output=True,
                       text=True, timeout=600)
    seconds = time.monotonic() - started
    if r.returncode != 0:
        sys.exit(f"{binary} fetch into {kind} failed: {r.stderr}")
    if os.path.isfile(out):
        os.unlink(out)
    return N / seconds


def main():
    binaries = [("this build", harness.POPBOX)]
    if os.environ.get("BASE"):
        binaries.append(("BASE", os.environ["BASE"]))
    env = harness.Env()
    md = env.maildir("alice")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    for i in range(N):
        with open(os.path.join(md, "new", f"{1700000000 + i}.M{i}P1.bench"), "wb") as f:
            f.write(b"Return-Path: <sender%d@example.org>\nSubject: message %d\n\n" % (i, i)
                    + b"body line\n" * 20)
    env.start()
    rates = {(name, kind): [] for name, _ in binaries for kind in ("maildir", "mbox")}
    try:
        for _ in range(REP):
            for name, binary in binaries:
                for kind in ("maildir", "mbox"):
                    rates[(name, kind)].append(one_run(binary, env, kind))
    finally:
        env.close()
    print(f"| popbox | target | msgs/s (median of {REP}, {N} messages) |")
    print("|---|---|---|")
    for (name, kind), r in rates.items():
        print(f"| {name} | {kind} | {statistics.median(r):.0f} |")


if __name__ == "__main__":
    main()
