#!/usr/bin/env python3
"""RETR throughput of one session: an 8 MB message (base64-like 76-octet LF
lines, or KIND=crlf), `popbox serve` started by tests/integration/harness.py,
then bench/retr-speed/client.c RETRs it N times, plain and implicit TLS.

  POPBOX_BIN=build/popbox [N=40] [REP=2] [KIND=lf|crlf] [ONLY=0|1] bench/retr-speed/run.py
HOLD=S keeps the server up S seconds afterwards and prints its pid and ports
(for perf record -p)."""

import base64
import os
import random
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
src = os.environ.setdefault("POPBOX_SRC", os.path.join(here, "../.."))
sys.path.insert(0, os.path.join(src, "tests/integration"))
import harness  # noqa: E402

client = os.path.join(tempfile.gettempdir(), "popbox-retr-speed-client")
subprocess.run(["cc", "-O2", "-Wall", "-o", client, os.path.join(here, "client.c"),
                "-lssl", "-lcrypto"], check=True)

kind = os.environ.get("KIND", "lf")
random.seed(1)
b64 = base64.encodebytes(random.randbytes(6_000_000))  # 76-octet LF lines
hdr = b"From: a@example.com\nTo: b@example.com\nSubject: big\n\n"
msg = hdr + b64[: 8_000_000 - len(hdr)]
if kind == "crlf":
    msg = msg.replace(b"\n", b"\r\n")[:8_000_000]
env = harness.Env(users={"big": "pw"})
env.deliver("big", msg)
srv = env.start()
n = os.environ.get("N", "40")
try:
    for tls, port in ((0, srv.pop3), (1, srv.pop3s)):
        if os.environ.get("ONLY") and os.environ["ONLY"] != str(tls):
            continue
        for _ in range(int(os.environ.get("REP", "2"))):
            subprocess.run([client, str(port), str(tls), "big", "pw", n], check=True)
    if os.environ.get("HOLD"):
        print("server pid", srv.proc.pid, "ports", srv.pop3, srv.pop3s, flush=True)
        time.sleep(float(os.environ["HOLD"]))
finally:
    env.close()
