"""The Debian package, as an operator gets it: ./scripts/package builds
popbox_<version>_<arch>.deb without leaving junk in the tree, lintian passes,
the .deb holds the binary, the conffile, the docs (and the man pages and
units once their sources exist), `apt-get install` creates the popbox user
and group, the installed popbox reports the CMake version and commit,
accepts its own config, serves a real client from a Maildir, and
serves it again as the installed popbox.service under its own sandbox
(a private systemd booted by unit_runner, the installed units, socket
activation), where `popbox who` shows the live session and `promtool check
metrics` accepts /metrics, and `apt-get remove`/`purge` treat the conffile
as Debian promises.
`cmake --install` puts the same files under a prefix.

Slow (a package build) and it changes the machine (installs, then purges
popbox): ctest label `package`. Skipped when popbox is already installed,
so it never removes an installation it did not make."""

import grp
import os
import poplib
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

import harness
import unit_runner
from harness import MESSAGES, run_tests, wire_form

SRC = os.path.realpath(harness.SRC)
BUILD = os.path.dirname(os.path.realpath(harness.POPBOX))
poplib._MAXLINE = 1 << 20  # the default 2048 cannot take the 6,000-octet line of MESSAGES
APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
APT = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=600"]
CONF = "/etc/popbox/popbox.toml"


def run(cmd, timeout=600, check=True, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def cmake_version():
    with open(os.path.join(SRC, "CMakeLists.txt")) as f:
        return re.search(r"^project\(popbox VERSION ([0-9.]+)", f.read(), re.M).group(1)


def git_commit():
    p = run(["git", "-C", SRC, "describe", "--always", "--dirty", "--abbrev=12"], check=False)
    return p.stdout.strip() if p.returncode == 0 else "unknown"


def git_status():
    return run(["git", "-C", SRC, "status", "--porcelain", "--ignored=no"], check=False).stdout


def installed(pkg="popbox"):
    p = run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", pkg], check=False)
    return p.returncode == 0 and p.stdout.startswith("ii")


def normalize(path):
    """A packaged or prefix-installed path with the prefix and the
    compression dh adds taken off: usr/share/doc/popbox/README.md.gz and
    share/doc/popbox/README.md are both share/doc/popbox/README.md."""
    path = path.lstrip("./")
    if path.startswith("usr/"):
        path = path[len("usr/"):]
    return path[:-3] if path.endswith(".gz") else path


def expected_docs():
    docs = {"README.md"} | {f for f in os.listdir(os.path.join(SRC, "docs")) if f.endswith(".md")}
    return {f"share/doc/popbox/{d}" for d in docs}


def man_sources():
    return os.path.isdir(os.path.join(SRC, "docs/man"))


def unit_sources():
    """Where each unit of contrib/systemd lands in the package: the fetch
    daemon's are user units, the rest the server's system units."""
    d = os.path.join(SRC, "contrib/systemd")
    units = sorted(f for f in os.listdir(d) if f.endswith((".service", ".socket", ".timer"))) \
        if os.path.isdir(d) else []
    return [f"lib/systemd/user/{u}" if u.startswith("popbox-fetch")  # /usr/lib/...
            else f"lib/systemd/system/{u}" for u in units]


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("dpkg-buildpackage"),
                     "needs root and dpkg-dev (scripts/deps installs it)")
class PackageTest(unittest.TestCase):
    deb = None

    @classmethod
    def setUpClass(cls):
        cls.status_before = git_status()
        cls.build = run([os.path.join(SRC, "scripts/package")], timeout=3000)
        cls.deb = cls.build.stdout.strip().splitlines()[-1]
        cls.files = {}
        for line in run(["dpkg-deb", "-c", cls.deb]).stdout.splitlines():
            fields = line.split()
            cls.files[normalize(fields[5])] = fields  # mode, owner, size, date, time, path

    def test_deb_is_in_the_repo_root_with_the_cmake_version(self):
        arch = run(["dpkg", "--print-architecture"]).stdout.strip()
        self.assertEqual(self.deb, os.path.join(SRC, f"popbox_{cmake_version()}_{arch}.deb"))
        self.assertTrue(os.path.isfile(self.deb))
        changelog = run(["dpkg-parsechangelog", "-l", os.path.join(SRC, "debian/changelog"),
                         "-S", "Version"]).stdout.strip()
        self.assertEqual(changelog, cmake_version())
        info = run(["dpkg-deb", "-f", self.deb, "Version", "Package", "Depends"]).stdout
        self.assertIn(f"Version: {cmake_version()}\n", info)
        self.assertRegex(info, r"Depends: .*adduser.*libssl3")  # shlibs filled it in

    def test_no_build_junk_left_in_the_tree(self):
        if not os.path.isdir(os.path.join(SRC, ".git")) and \
                not os.path.isfile(os.path.join(SRC, ".git")):
            self.skipTest("not a git checkout")
        self.assertEqual(git_status(), self.status_before)
        for junk in ("debian/.debhelper", "debian/popbox", "debian/files",
                     "obj-" + run(["dpkg-architecture", "-qDEB_HOST_GNU_TYPE"]).stdout.strip()):
            self.assertFalse(os.path.exists(os.path.join(SRC, junk)), junk)

    def test_lintian_is_clean(self):
        cmd = ["lintian", "--fail-on", "error,warning", self.deb]
        if not man_sources():  # until docs/man/ exists the package has no man page
            cmd[1:1] = ["--suppress-tags", "no-manual-page"]
        p = run(cmd, check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotRegex(p.stdout, r"(?m)^[EW]: ")

    def test_contents(self):
        f = self.files
        self.assertTrue(f["bin/popbox"][0].startswith("-rwxr-xr-x"))
        self.assertEqual(f["bin/popbox"][1], "root/root")
        self.assertIn("etc/popbox/popbox.toml", f)
        self.assertLessEqual(expected_docs(), set(f))
        self.assertIn("share/doc/popbox/copyright", f)
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        run(["dpkg-deb", "-e", self.deb, tmp])
        with open(os.path.join(tmp, "conffiles")) as c:
            self.assertEqual(c.read().split(), [CONF])
        if man_sources():
            self.assertIn("share/man/man1/popbox.1", f)
            self.assertIn("share/man/man5/popbox.toml.5", f)
        for unit in unit_sources():
            self.assertIn(unit, f)

    def test_cmake_install_puts_the_same_files_under_a_prefix(self):
        prefix = tempfile.mkdtemp(prefix="popbox-prefix-")
        self.addCleanup(shutil.rmtree, prefix)
        run(["cmake", "--install", BUILD, "--prefix", prefix])
        got = set()
        for root, _, names in os.walk(prefix):
            for n in names:
                got.add(os.path.relpath(os.path.join(root, n), prefix))
        packaged = {p for p, fields in self.files.items() if not fields[0].startswith("d")}
        # What dh adds on its own: the Debian changelog and copyright.
        packaged -= {"share/doc/popbox/changelog", "share/doc/popbox/copyright"}
        self.assertEqual(got, packaged)
        with open(os.path.join(prefix, "etc/popbox/popbox.toml"), "rb") as a, \
                open(os.path.join(SRC, "etc/popbox.toml"), "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_install_serve_remove_purge(self):
        if installed():
            self.skipTest("popbox is already installed here; `apt-get purge popbox` to run this")
        self.addCleanup(self.purge_quietly)
        try:
            user_before = pwd.getpwnam("popbox")
        except KeyError:
            user_before = None
        dirs_before = {d for d in ("/var/lib/popbox", "/var/vmail") if os.path.exists(d)}
        run(APT + ["install", os.path.abspath(self.deb)], env=APT_ENV, timeout=900)
        self.assertTrue(installed())

        # The system user and group of postinst (an existing one is kept).
        pw = pwd.getpwnam("popbox")
        gr = grp.getgrnam("popbox")
        if user_before:
            self.assertEqual(pw, user_before)
        else:
            self.assertEqual(pw.pw_gid, gr.gr_gid)
            self.assertLess(pw.pw_uid, 1000)  # a system account
            self.assertEqual(pw.pw_dir, "/var/lib/popbox")
            self.assertEqual(pw.pw_shell, "/usr/sbin/nologin")
        for d in ("/var/lib/popbox", "/var/vmail"):
            if d in dirs_before:
                continue  # postinst leaves an existing directory as it is
            st = os.stat(d)
            self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)),
                             (pw.pw_uid, gr.gr_gid, 0o750), d)
        st = os.stat("/etc/popbox/users")
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (0, gr.gr_gid, 0o640))

        version = run(["/usr/bin/popbox", "--version"]).stdout.strip()
        self.assertEqual(version, f"popbox {cmake_version()} (git {git_commit()})")

        with open(CONF, "rb") as a, open(os.path.join(SRC, "etc/popbox.toml"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        # The shipped config is valid as installed, with the paths postinst made.
        p = run(["/usr/bin/popbox", "check", "-c", CONF], check=False)
        self.assertEqual((p.returncode, p.stdout), (0, f"{CONF}: OK\n"), p.stderr)

        if man_sources():
            self.assertEqual(run(["man", "-w", "popbox"]).stdout.strip(),
                             "/usr/share/man/man1/popbox.1.gz")

        # The operator sets the paths (sed on the conffile, as the docs say),
        # adds a user with popbox itself, and the check still says OK.
        # Outside /tmp: the installed unit has PrivateTmp=yes.
        tmp = tempfile.mkdtemp(prefix="popbox-pkg-", dir="/var/lib")
        self.addCleanup(shutil.rmtree, tmp, True)
        os.chmod(tmp, 0o755)
        users = os.path.join(tmp, "users")
        mail = os.path.join(tmp, "mail")
        run(["sed", "-i", "-e", f's|^passwd_file = .*|passwd_file = "{users}"|',
             "-e", f's|^maildir = .*|maildir = "{mail}/%d/%n/Maildir"|', CONF])
        run(["/usr/bin/popbox", "user", "add", "--file", users, "--password-stdin", "alice"],
            input="alice-secret\n")
        os.makedirs(mail)
        md = os.path.join(mail, "alice/Maildir")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, sub))
        names = list(MESSAGES)
        for i, name in enumerate(names):
            with open(os.path.join(md, "new", f"{1700000000 + i}.M{i}P1.pkg"), "wb") as f:
                f.write(MESSAGES[name])
            t = 1_700_000_000 + i
            os.utime(os.path.join(md, "new", f"{1700000000 + i}.M{i}P1.pkg"), (t, t))
        harness.chown_tree(tmp, pw.pw_uid, gr.gr_gid)
        os.chmod(users, 0o640)
        p = run(["/usr/bin/popbox", "check", "-c", CONF], check=False)
        self.assertEqual((p.returncode, p.stdout), (0, f"{CONF}: OK\n"), p.stderr)

        # The installed binary serves that config (on a free loopback port,
        # the admin socket in the temp dir) as the popbox user.
        served = os.path.join(tmp, "serve.toml")
        with open(CONF) as f:
            # Without the comments: harness.Server reads "listen_tls" and
            # "[lmtp] listen" in the text as listeners to wait for.
            text = "".join(line for line in f if not line.lstrip().startswith("#"))
        text = re.sub(r'(?m)^listen = .*', 'listen = ["127.0.0.1:0"]', text, count=1)
        text = re.sub(r'(?m)^socket = .*', f'socket = "{tmp}/admin.sock"', text)
        metrics_port = harness.free_port()
        text += f'\n[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n'
        with open(served, "w") as f:
            f.write(text)
        saved, harness.POPBOX = harness.POPBOX, "/usr/bin/popbox"
        try:
            server = harness.Server(served)
        finally:
            harness.POPBOX = saved
        try:
            c = poplib.POP3("127.0.0.1", server.pop3, timeout=20)
            c.user("alice")
            c.pass_("alice-secret")
            self.assertEqual(c.stat()[0], len(names))
            for i, name in enumerate(names, 1):
                _, lines, _ = c.retr(i)
                body = b"".join(line + b"\r\n" for line in lines)
                self.assertEqual(body, wire_form(MESSAGES[name]), name)
            c.quit()
        finally:
            server.stop()
        self.assertRegex(server.log_text(),
                         rf"event=privileges user=popbox uid={pw.pw_uid} gid={gr.gr_gid}")
        # Under the unit the admin socket is the package's own, in the
        # RuntimeDirectory: root there has no CAP_DAC_OVERRIDE for tmp.
        unit_conf = os.path.join(tmp, "unit.toml")
        with open(unit_conf, "w") as f:
            f.write(re.sub(r'(?m)^socket = .*', 'socket = "/run/popbox/admin.sock"', text))
        self.serve_under_the_installed_unit(unit_conf, tmp, metrics_port, names)

        # remove keeps the (changed) conffile, reinstalling keeps the change,
        # purge removes it; a users file with entries stays.
        run(APT + ["remove", "popbox"], env=APT_ENV)
        self.assertFalse(os.path.exists("/usr/bin/popbox"))
        with open(CONF) as f:
            self.assertIn(f'passwd_file = "{users}"', f.read())
        run(APT + ["install", os.path.abspath(self.deb)], env=APT_ENV, timeout=900)
        with open(CONF) as f:
            self.assertIn(f'passwd_file = "{users}"', f.read())
        kept = "/var/vmail/popbox-test-package"  # mail (a Maildir's parent) is never purged
        if "/var/vmail" not in dirs_before:  # cleanups run last first: this one after the next
            self.addCleanup(lambda: os.path.isdir("/var/vmail") and
                            not os.listdir("/var/vmail") and os.rmdir("/var/vmail"))
        os.makedirs(kept)
        self.addCleanup(os.rmdir, kept)
        run(APT + ["purge", "popbox"], env=APT_ENV)
        self.assertFalse(installed())
        self.assertFalse(os.path.exists(CONF))
        # The empty users file postinst made, and the then empty /etc/popbox
        # and /var/lib/popbox go; mail stays.
        self.assertFalse(os.path.exists("/etc/popbox"))
        if "/var/lib/popbox" not in dirs_before:
            self.assertFalse(os.path.exists("/var/lib/popbox"))
        self.assertTrue(os.path.isdir(kept))
        pwd.getpwnam("popbox")  # Debian keeps system users after purge

    def serve_under_the_installed_unit(self, config, writable, metrics_port, names):
        """The installed units in a booted private systemd: a POP3 client
        starts popbox.service through popbox.socket, `popbox who` lists the
        session, /metrics passes promtool."""
        sd = unit_runner.BootedSystemd()
        try:
            sd.boot()
        except unit_runner.Unavailable as e:
            sd.shutdown()
            self.skipTest(f"cannot boot a private systemd here: {e}")
        try:
            pop3, pop3s = harness.free_port(), harness.free_port()
            unit_runner.install_popbox_units(sd, "/lib/systemd/system", config, writable, pop3,
                                             pop3s, "popbox")
            sd.systemctl("start", "popbox.socket")
            c = poplib.POP3("127.0.0.1", pop3, timeout=30)
            c.user("alice")
            c.pass_("alice-secret")
            self.assertEqual(c.stat()[0], len(names))
            _, lines, _ = c.retr(1)
            self.assertEqual(b"".join(line + b"\r\n" for line in lines),
                             wire_form(MESSAGES[names[0]]))
            st = sd.show("popbox.service", "ActiveState", "Type")
            self.assertEqual((st["ActiveState"], st["Type"]), ("active", "notify"))
            who = run(["/usr/bin/popbox", "who", "--socket",
                       sd.path("/run/popbox/admin.sock")]).stdout
            self.assertRegex(who, r"(?m)^\S+\s+alice\s+127\.0\.0\.1", who)
            scrape = run(["curl", "-sSf", f"http://127.0.0.1:{metrics_port}/metrics"]).stdout
            self.assertIn("popbox_sessions_open", scrape)
            p = subprocess.run(["promtool", "check", "metrics"], input=scrape, text=True,
                               capture_output=True, timeout=60)
            self.assertEqual((p.returncode, p.stdout + p.stderr), (0, ""))
            c.quit()
            sd.systemctl("stop", "popbox.service", "popbox.socket", "popbox-pop3s.socket",
                         "popbox-lmtp.socket")
        finally:
            sd.shutdown()

    @staticmethod
    def purge_quietly():
        subprocess.run(APT + ["purge", "popbox"], env=APT_ENV, capture_output=True, timeout=900)


if __name__ == "__main__":
    run_tests()
