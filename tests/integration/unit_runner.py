"""A real systemd, booted as PID 1 of its own PID, mount and cgroup
namespaces, to start popbox's unit files for real on a machine where
systemd is installed but is not PID 1 (a container, a CI runner).

The booted manager sees only the units given here: SYSTEMD_UNIT_PATH
replaces the unit search path with a private directory holding empty
stand-ins for the boot targets, journald's own units and the units under
test. Nothing of the host's boot runs (no tmpfiles, no sysusers, no
sysctl); /run, /tmp and /var/tmp are private tmpfs mounts of the
namespace, and the manager's cgroups live under a cgroup of their own that
shutdown() removes (a cgroup2 mount of the namespace's own, so nothing is
made in the host's cgroup tree). Used by test_systemd.py on contrib/systemd/ and by the
package test on the installed /lib/systemd/system/popbox.service.

    sd = BootedSystemd()
    sd.boot()                       # raises Unavailable(reason) if it cannot
    install_popbox_units(sd, "/lib/systemd/system", config, writable_dir,
                         pop3_port, pop3s_port, "popbox")   # or sd.install_unit(path)
    sd.systemctl("start", "popbox.socket")
    sd.shutdown()
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

SYSTEMD = "/lib/systemd/systemd"
UNIT_DIR = "/run/popbox-units"  # inside the namespace
CGROUP_ROOT = "/sys/fs/cgroup"

# Empty stand-ins for what default dependencies and [Install] sections name.
STAND_INS = ["sysinit.target", "basic.target", "sockets.target", "network.target",
             "network-online.target", "multi-user.target", "shutdown.target",
             "local-fs.target", "paths.target", "timers.target", "slices.target"]
JOURNALD = ["systemd-journald.service", "systemd-journald.socket",
            "systemd-journald-dev-log.socket"]

INNER = """#!/bin/sh
set -e
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
# A cgroup2 mount made inside the cgroup namespace is rooted at the cgroup
# the manager was put in: every cgroup it makes stays below that one (the
# host's mounts are rooted at the real root, and v1 controllers stay unseen).
umount -l /sys/fs/cgroup
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
mkdir -p {unit_dir}
cp {stage}/* {unit_dir}/
touch {unit_dir}/.staged
export container=popbox-test SYSTEMD_UNIT_PATH={unit_dir}
exec {systemd} --system --unit=popbox-test.target --log-target=null --show-status=no
"""


class Unavailable(Exception):
    """The machine cannot boot a private systemd (the reason is the text)."""


def _run(args, timeout=30, check=False, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=check,
                          **kw)


class BootedSystemd:
    def __init__(self):
        self.stage = tempfile.mkdtemp(prefix="popbox-sd-stage-", dir="/var/lib")
        self.cgroups = []
        self.proc = None
        self.pid1 = None  # the manager's pid as the host sees it

    # ---- boot and shutdown -------------------------------------------------

    def _check_machine(self):
        if os.geteuid() != 0:
            raise Unavailable("needs root (namespaces, mounts)")
        for tool in (SYSTEMD, shutil.which("unshare"), shutil.which("nsenter")):
            if not tool or not os.path.exists(tool):
                raise Unavailable(f"missing {tool or 'unshare/nsenter'}")
        if not os.path.isdir(os.path.join(CGROUP_ROOT, "unified")) and not os.path.exists(
                os.path.join(CGROUP_ROOT, "cgroup.controllers")):
            raise Unavailable("no cgroup v2 hierarchy to give the manager")

    def _own_cgroups(self):
        """cgroup directories for the manager, so its tree is removable."""
        name = f"popbox-test-{os.getpid()}-{time.monotonic_ns()}"
        roots = []
        if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")):
            roots = [CGROUP_ROOT]  # pure cgroup v2
        else:  # hybrid: the v2 hierarchy is mounted at unified/
            roots = [os.path.join(CGROUP_ROOT, "unified")]
        for r in roots:
            d = os.path.join(r, name)
            os.mkdir(d)
            self.cgroups.append(d)

    def boot(self, timeout=20):
        """Boots the manager; returns once `systemctl is-system-running`
        answers, with journald started. Raises Unavailable."""
        self._check_machine()
        for name in STAND_INS:
            with open(os.path.join(self.stage, name), "w") as f:
                f.write("[Unit]\nDescription=popbox test stand-in\n")
        with open(os.path.join(self.stage, "popbox-test.target"), "w") as f:
            f.write("[Unit]\nDescription=popbox test\nDefaultDependencies=no\n")
        with open(os.path.join(self.stage, "system.slice"), "w") as f:
            f.write("[Unit]\nDescription=System Slice\nDefaultDependencies=no\n")
        for name in JOURNALD:
            src = os.path.join("/lib/systemd/system", name)
            if os.path.exists(src):
                shutil.copy(src, self.stage)
        inner = os.path.join(self.stage, "boot.sh")
        with open(inner, "w") as f:
            f.write(INNER.format(unit_dir=UNIT_DIR, stage=self.stage, systemd=SYSTEMD))
        os.chmod(inner, 0o700)
        try:
            self._own_cgroups()
        except OSError as e:
            raise Unavailable(f"cannot make a cgroup for the manager: {e}")
        procs = [os.path.join(d, "cgroup.procs") for d in self.cgroups]
        # The child enters the cgroups before unshare, so the namespace's
        # cgroup root is ours.
        def enter():
            for p in procs:
                with open(p, "w") as f:
                    f.write("0")
        self.log = open(os.path.join(self.stage, "boot.log"), "wb")
        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount", "--cgroup", "--propagation", "private",
             "--mount-proc", inner], stdout=self.log, stderr=subprocess.STDOUT,
            preexec_fn=enter, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable("the namespace's systemd exited: " + self._boot_log())
            if self.pid1 is None:
                self.pid1 = self._find_manager()
            if self.pid1 is not None:
                r = self._ns(["systemctl", "is-system-running"], timeout=5)
                if r.stdout.strip() in ("running", "degraded"):
                    break
            time.sleep(0.1)
        else:
            self.shutdown()
            raise Unavailable(f"systemd did not come up in {timeout}s: " + self._boot_log())
        r = self.systemctl("start", "systemd-journald.socket", "systemd-journald.service",
                           check=False)
        self.journal_ok = r.returncode == 0
        if self.journal_ok:
            # The manager's own messages (notifications received) go there too.
            self._ns(["systemd-analyze", "log-target", "journal"])
            self._ns(["systemd-analyze", "log-level", "debug"])

    def _boot_log(self):
        try:
            with open(os.path.join(self.stage, "boot.log"), "rb") as f:
                return f.read().decode(errors="replace")[-2000:]
        except OSError:
            return ""

    def _find_manager(self):
        """The host pid of the namespace's PID 1 (the child of unshare)."""
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                kids = f.read().split()
        except OSError:
            return None
        for k in kids:
            try:
                with open(f"/proc/{k}/comm") as f:
                    if f.read().strip() == "systemd":
                        return int(k)
            except OSError:
                pass
        return None

    def shutdown(self):
        """Kills the namespace (every process in it dies with its PID 1) and
        removes the manager's cgroups and the staging directory."""
        if self.proc is not None:
            if self.pid1 is not None:
                try:
                    os.kill(self.pid1, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            self.proc = None
            self.log.close()
        for d in self.cgroups:
            for _ in range(50):  # the kernel empties them shortly after the kill
                try:
                    for root, dirs, _files in os.walk(d, topdown=False):
                        for name in dirs:
                            os.rmdir(os.path.join(root, name))
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
        self.cgroups = []
        shutil.rmtree(self.stage, ignore_errors=True)

    # ---- working inside ------------------------------------------------------

    def path(self, inside):
        """The host path of `inside` (a path in the namespace's mount tree)."""
        return f"/proc/{self.pid1}/root{inside}"

    def _ns(self, args, timeout=30, check=False):
        return _run(["nsenter", "-t", str(self.pid1), "-m", "-p", "--"] + args, timeout=timeout,
                    check=check)

    def run(self, args, timeout=30, check=False):
        """Runs `args` inside the namespace (its mounts and pids)."""
        return self._ns(args, timeout=timeout, check=check)

    def systemctl(self, *args, check=True, timeout=30):
        r = self._ns(["systemctl", "--no-pager"] + list(args), timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"systemctl {' '.join(args)}: {r.stdout}{r.stderr}\n"
                               + self.status_text(args[-1]))
        return r

    def status_text(self, unit):
        r = self._ns(["systemctl", "--no-pager", "status", unit], timeout=10)
        return r.stdout + self.journal_text(unit)

    def show(self, unit, *props):
        """{property: value} of `systemctl show` for `unit`."""
        r = self.systemctl("show", unit, "-p", ",".join(props))
        out = {}
        for line in r.stdout.splitlines():
            k, _, v = line.partition("=")
            out[k] = v
        return out

    def install_unit(self, source, name=None):
        """Copies the unit file `source` into the manager's unit path."""
        name = name or os.path.basename(source)
        with open(source) as f:
            self.write_unit(name, f.read())

    def write_unit(self, name, text):
        with open(self.path(f"{UNIT_DIR}/{name}"), "w") as f:
            f.write(text)

    def drop_in(self, unit, name, text):
        d = self.path(f"{UNIT_DIR}/{unit}.d")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"{name}.conf"), "w") as f:
            f.write(text)

    def daemon_reload(self):
        self.systemctl("daemon-reload")

    def journal(self, unit=None, match=()):
        """The journal entries (dicts of journalctl -o json) of `unit` (the
        manager's messages about it, and what it wrote when journald could
        tell its cgroup) or of the field matches `match`, e.g.
        ["SYSLOG_IDENTIFIER=popbox"] (what a service wrote, reliably)."""
        if not self.journal_ok:
            return []
        self._ns(["journalctl", "--sync"], timeout=10)
        where = (["-u", unit] if unit else []) + list(match)
        r = self._ns(["journalctl", "--no-pager", "-o", "json"] + where, timeout=20)
        out = []
        for line in r.stdout.splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def journal_text(self, unit):
        lines = []
        for e in self.journal(unit):
            msg = e.get("MESSAGE")
            if isinstance(msg, list):  # journalctl gives non-UTF-8 as bytes
                msg = bytes(msg).decode(errors="replace")
            lines.append(f"[{e.get('PRIORITY')}] {msg}")
        return "\n".join(lines)

    def notifications(self, unit):
        """The sd_notify messages the manager logged as received from
        `unit`, in order (e.g. "READY=1, STATUS=..."), from its debug log."""
        out = []
        for e in self.journal(unit):
            msg = e.get("MESSAGE")
            if isinstance(msg, str) and "Got notification message from PID" in msg:
                out.append(msg.split("(", 1)[1].rstrip(")") if "(" in msg else msg)
        return out


POPBOX_UNITS = ["popbox.service", "popbox.socket", "popbox-pop3s.socket", "popbox-lmtp.socket"]


def install_popbox_units(sd, unit_dir, config, writable, pop3_port, pop3s_port, socket_user,
                         binary=None):
    """Installs popbox's four units from `unit_dir` (contrib/systemd or
    /lib/systemd/system) into the booted manager `sd`, with drop-ins only
    for what a test must change: ExecStart runs `binary` (default: the
    unit's own, /usr/bin/popbox) on `config`, `writable` (a directory outside
    /tmp, for PrivateTmp=) is added to the shipped ReadWritePaths=, the sockets
    listen on 127.0.0.1:`pop3_port`/`pop3s_port`, and the LMTP socket
    belongs to `socket_user`. Every other line is the shipped unit's."""
    for u in POPBOX_UNITS:
        sd.install_unit(os.path.join(unit_dir, u))
    exe = binary or "/usr/bin/popbox"
    if exe.startswith(("/tmp/", "/var/tmp/", "/run/")):
        # The booted manager mounts tmpfs over these: a checkout there
        # (a CI clone in /tmp) would be out of the service's sight.
        exe = shutil.copy2(exe, os.path.join(writable, "popbox"))
    sd.drop_in("popbox.service", "test", (
        "[Service]\nExecStart=\n"
        f"ExecStart={exe} serve -c {config}\n"
        f"ReadWritePaths={writable}\n"))
    sd.drop_in("popbox.socket", "test",
               f"[Socket]\nListenStream=\nListenStream=127.0.0.1:{pop3_port}\n")
    sd.drop_in("popbox-pop3s.socket", "test",
               f"[Socket]\nListenStream=\nListenStream=127.0.0.1:{pop3s_port}\n")
    sd.drop_in("popbox-lmtp.socket", "test",
               f"[Socket]\nSocketUser={socket_user}\nSocketGroup={socket_user}\n")
    sd.daemon_reload()
