"""The table of bench/compare-dovecot (scenario | popbox | Dovecot | ratio |
target) and bench/RESULTS.md with the machine and the date."""

import datetime
import os
import platform
import subprocess


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), Linux {platform.release()}"


def git_commit(repo):
    try:
        out = subprocess.run(["git", "-C", repo, "log", "-1", "--format=%h %s"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def dovecot_version():
    try:
        out = subprocess.run(["dovecot", "--version"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip()
    except OSError:
        return "unknown"


def num(x, digits=1):
    return f"{x:,.{digits}f}"


def refused(r):
    """ "-ERR [SYS/TEMP] x3, connect: ... x2" from a bench result's errors."""
    items = sorted(r["errors"].items(), key=lambda kv: -kv[1])
    return ", ".join(f"`{k}` x{v}" for k, v in items[:3]) + (" ..." if len(items) > 3 else "")


def cell(kind, r):
    """One server's cell for a row of `kind`."""
    if r is None:
        return "not run"
    if kind == "sessions":
        return f"{num(r['sessions_per_s'])} sess/s"
    if kind == "mb":
        return f"{num(r['mb_per_s'], 0)} MB/s"
    if kind == "idle":
        text = f"{r['idle']['held']:,} held"
        if r.get("kb_each") is not None:
            text += f", {num(r['kb_each'])} KB each"
        if r["errors"]:
            text += f"; refused: {refused(r)}"
        return text
    if kind == "maildrop":
        return f"{r['warm'] * 1000:,.0f} ms warm / {r['cached']:.2f} s first"
    if kind == "maildrop-dropped":
        return f"{r['cold']:.2f} s" + ("" if r["dropped"] else " (cache not dropped)")
    raise ValueError(kind)


def value(kind, r):
    if r is None:
        return None
    return {"sessions": r.get("sessions_per_s"), "mb": r.get("mb_per_s")}.get(kind)


def verdict(row):
    """Whether popbox meets the row's target: True, False or None."""
    p, d = row["popbox"], row["dovecot"]
    if p is None:
        return None
    t = row["target"]
    if "ratio" in t:
        pv, dv = value(row["kind"], p), value(row["kind"], d)
        return None if not dv else pv / dv >= t["ratio"]
    if "mb" in t:
        return p["mb_per_s"] >= t["mb"]
    if "held" in t:
        return p["idle"]["held"] >= t["held"] and (p.get("kb_each") or 1e9) <= t["kb"]
    if "warm" in t:
        return p["warm"] <= t["warm"] and p["cached"] <= t["cached"]
    if "cold" in t:
        return p["cold"] <= t["cold"]
    return None


def table(rows):
    lines = ["| scenario | popbox | Dovecot tuned | ratio | target |", "|---|---|---|---|---|"]
    for row in rows:
        p, d = row["popbox"], row["dovecot"]
        pv, dv = value(row["kind"], p), value(row["kind"], d)
        ratio = f"{pv / dv:.2f}×" if pv is not None and dv else ""
        met = {True: "met", False: "**not met**", None: "?"}[verdict(row)]
        lines.append(f"| {row['name']} | {cell(row['kind'], p)} | {cell(row['kind'], d)} | "
                     f"{ratio} | {row['target']['text']} ({met}) |")
    return "\n".join(lines)


def details(rows):
    """The command lines and the bench's own CPU use, per run."""
    out = []
    for row in rows:
        for server in ("popbox", "dovecot"):
            r = row[server]
            if not r or "command" not in r:
                continue
            cpu = r["bench_cpu_s"] / r["seconds"] if r["seconds"] else 0
            extra = f"{cpu:.2f} cores"
            if r["sessions_per_s"] and row["kind"] == "sessions":
                extra += f", {cpu / (r['sessions_per_s'] / 1000):.2f} cores per 1,000 sess/s"
            if row["kind"] == "idle":
                extra = "logins and hold"  # seconds counts the hold only
            tls = f", TLS resumed {r['tls_resumed']}/{r['tls_handshakes']}" if r["tls"] else ""
            errs = f", errors: {refused(r)}" if r["errors"] else ""
            out.append(f"- {row['name']}, {server}: `{r['command']}` — {r['sessions']:,} sessions, "
                       f"{r['messages']:,} messages in {r['seconds']:.1f} s, p50/p99/p999 "
                       f"{r['latency_ms']['p50']:.1f}/{r['latency_ms']['p99']:.1f}/"
                       f"{r['latency_ms']['p999']:.1f} ms per {r['latency_ms']['per']}; bench "
                       f"CPU {r['bench_cpu_s']:.2f} s ({extra}){tls}{errs}")
    return "\n".join(out)


def results_md(rows, setup, notes, repo):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""# popbox vs Dovecot — bench/compare-dovecot

Written by `bench/compare-dovecot --write-results`; see docs/performance.md
("Benchmark") for what each row measures.

- Date: {now}
- Machine: {machine()}; server and load generator share it
- popbox: {git_commit(repo)}
- Dovecot: {dovecot_version()}, tuned as issue 8 says
- Fixture: {setup}

{table(rows)}

{notes}

## Runs

{details(rows)}
"""
