"""The mail both servers serve in bench/compare-dovecot: the same bytes on
every run (seeded), the shapes of issue 8.

- `users` users x `messages` messages of log-normal size (median 13 KB);
- one user `big` with one 8 MB message;
- `idle` users with empty Maildirs, for the idle-sessions row;
- two copies of a `huge`-message maildrop (one per server, so neither
  sees the other's index), for the login + STAT row;
- one passwd-file with the same {SHA512-CRYPT} hash for everyone, read by
  both popbox and Dovecot.
"""

import math
import os
import random
import subprocess
import warnings

PASSWORD = "bench-pw"
SEED = 8  # issue 8
MEDIAN = 13_000
SIGMA = 1.0  # log-normal spread: mean ~21 KB, 1 in 100 above ~130 KB
MIN_SIZE, MAX_SIZE = 400, 2_000_000
BIG_SIZE = 8 * 1000 * 1000
HUGE_SIZE = 2_000  # each message of the big maildrop

WORDS = ("the quick brown fox jumps over lazy dog mail server session index maildir "
         "message header body line client network kernel socket buffer latency").split()


def sha512_crypt(password):
    """A {SHA512-CRYPT} hash, by Python's crypt or else `doveadm pw`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt
        return "{SHA512-CRYPT}" + crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))
    except ImportError:
        out = subprocess.run(["doveadm", "pw", "-s", "SHA512-CRYPT", "-p", password],
                             capture_output=True, text=True, check=True, timeout=60)
        return out.stdout.strip()


def _text_block(rng, size):
    """`size` bytes of LF-ended text lines from `rng`."""
    lines, total = [], 0
    while total < size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))) + "\n"
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()[:size]


class Writer:
    """Writes Maildirs from one seeded text pool."""

    def __init__(self, root):
        self.root = root
        self.rng = random.Random(SEED)
        self.pool = _text_block(random.Random(SEED + 1), 4 * 1024 * 1024)
        self.seq = 0

    def maildir(self, user):
        path = os.path.join(self.root, user, "Maildir")
        for d in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(path, d), exist_ok=True)
        return path

    def message(self, size):
        self.seq += 1
        head = (f"From: sender{self.seq % 97}@example.org\nTo: user@example.com\n"
                f"Subject: bench message {self.seq}\nMessage-ID: <{self.seq}@bench>\n"
                f"Date: Tue, 01 Dec 2026 12:00:00 +0000\n\n").encode()
        need = max(0, size - len(head))
        body = b""
        while len(body) < need:
            start = self.rng.randrange(len(self.pool) - 1)
            body += self.pool[start:start + need - len(body)]
        return head + body

    def deliver(self, path, data):
        name = f"{1700000000 + self.seq}.M{self.seq}P1.bench,S={len(data)}"
        file = os.path.join(path, "new", name)
        with open(file, "wb") as f:
            f.write(data)
        t = 1_700_000_000 + self.seq
        os.utime(file, (t, t))


def lognormal_size(rng):
    size = int(rng.lognormvariate(math.log(MEDIAN), SIGMA))
    return min(MAX_SIZE, max(MIN_SIZE, size))


def build(root, users, messages, idle, huge):
    """Writes the tree under `root` and `root`/users.passwd and the user
    lists for `popbox bench --users`; returns {name: path} of those files."""
    w = Writer(os.path.join(root, "mail"))
    sizes = random.Random(SEED + 2)
    names = [f"user{i:03d}" for i in range(users)]
    written = []
    for u in names:
        md = w.maildir(u)
        for _ in range(messages):
            data = w.message(lognormal_size(sizes))
            written.append(len(data))
            w.deliver(md, data)
    w.deliver(w.maildir("big"), w.message(BIG_SIZE))
    idle_names = [f"idle{i:05d}" for i in range(idle)]
    for u in idle_names:
        w.maildir(u)
    for u in ("huge_popbox", "huge_dovecot"):
        md = w.maildir(u)
        w.seq = 0  # the same file names and sizes in both copies
        for _ in range(huge):
            w.deliver(md, w.message(HUGE_SIZE))
    files = {"passwd": os.path.join(root, "users.passwd"),
             "users": os.path.join(root, "users.list"),
             "idle": os.path.join(root, "idle.list")}
    hashed = sha512_crypt(PASSWORD)
    everyone = names + ["big", "huge_popbox", "huge_dovecot"] + idle_names
    with open(files["passwd"], "w") as f:
        f.writelines(f"{u}:{hashed}::::::\n" for u in everyone)
    os.chmod(files["passwd"], 0o644)
    with open(files["users"], "w") as f:
        f.writelines(u + "\n" for u in names)
    with open(files["idle"], "w") as f:
        f.writelines(u + "\n" for u in idle_names)
    files["mail"] = w.root
    files["first_user"] = names[0]
    files["median"] = sorted(written)[len(written) // 2] if written else 0
    files["total_bytes"] = sum(written)
    return files
