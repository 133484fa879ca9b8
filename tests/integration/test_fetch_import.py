"""`popbox fetch import` end to end: real mpop and fetchmail fetch (keep
on) from `popbox serve`, their UIDL files are imported, and the first
`popbox fetch` downloads nothing; two new messages are then exactly what
it downloads. getmail (run as nobody: it refuses root) when installed."""

import os
import shutil
import subprocess
import unittest

from fetch_helpers import account, maildir_files, run_fetch, write_config
import harness
from harness import Env, run_tests

PRE = [b"Subject: old %d\n\nbody %d\n" % (i, i) for i in range(5)]


def client_env(home):
    return {"HOME": home, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "FETCHMAILHOME": home,
            "TMPDIR": home}


class ImportBase(unittest.TestCase):
    def setUp(self):
        self.env = Env()
        for data in PRE:
            self.env.deliver("alice", data)
        self.env.start()
        self.config = os.path.join(self.env.dir, "fetch.toml")
        self.tmp = os.path.join(self.env.dir, "clients")
        os.makedirs(self.tmp)

    def tearDown(self):
        self.env.close()

    def import_(self, name, fmt, path):
        return subprocess.run([harness.POPBOX, "fetch", "import", "--config", self.config,
                               "--account", name, "--from", fmt, path],
                              capture_output=True, text=True, timeout=60)

    def check_takeover(self, name, fmt, path, imported, other=0):
        write_config(self.config, account(self.env, name=name, keep=True))
        r = self.import_(name, fmt, path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"{name}: imported {imported} UIDLs", r.stdout)
        self.assertIn(f"{other} of other accounts", r.stdout)
        r = run_fetch(self.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"{name}: fetched 0 messages", r.stderr)
        new = [b"Subject: new 1\n\nfresh\n", b"Subject: new 2\n\nfresh too\n"]
        for data in new:
            self.env.deliver("alice", data)
        r = run_fetch(self.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"{name}: fetched 2 messages", r.stderr)
        out = os.path.join(self.env.dir, "out-" + name)
        self.assertEqual(sorted(maildir_files(out)), sorted(new))
        # Importing again changes nothing: every UIDL is known.
        r = self.import_(name, fmt, path)
        self.assertIn(f"imported 0 UIDLs", r.stdout)
        self.assertIn(f"skipped {imported} already known", r.stdout)


@unittest.skipUnless(shutil.which("mpop"), "mpop is not installed (Debian package mpop)")
class Mpop(ImportBase):
    def test_mpop_uidls_file(self):
        md = os.path.join(self.tmp, "Maildir")
        for s in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, s))
        rc = os.path.join(self.tmp, "mpoprc")
        with open(rc, "w") as f:
            f.write(f"""account test
host 127.0.0.1
port {self.env.server.pop3}
user alice
password alice-secret
tls off
auth user
keep on
delivery maildir {md}
uidls_file {self.tmp}/uidls
""")
        os.chmod(rc, 0o600)
        p = subprocess.run(["mpop", "--file=" + rc, "--all-accounts"], capture_output=True,
                           env=client_env(self.tmp), timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(os.listdir(os.path.join(md, "new"))), len(PRE))
        self.check_takeover("mp", "mpop", os.path.join(self.tmp, "uidls"), len(PRE))


@unittest.skipUnless(shutil.which("fetchmail"), "fetchmail is not installed")
class Fetchmail(ImportBase):
    def test_fetchids(self):
        mda = os.path.join(self.tmp, "mda.sh")
        with open(mda, "w") as f:
            f.write("#!/bin/sh\ncat > /dev/null\n")
        os.chmod(mda, 0o755)
        rc = os.path.join(self.tmp, "fetchmailrc")
        ids = os.path.join(self.tmp, "fetchids")
        with open(rc, "w") as f:
            f.write(f"""set no syslog
set no bouncemail
set invisible
set idfile "{ids}"
poll 127.0.0.1 service {self.env.server.pop3} protocol pop3 uidl timeout 20
  user "alice" there with password "alice-secret" is "root" here
  options keep no rewrite sslproto ''
  mda "{mda}"
""")
        os.chmod(rc, 0o600)
        p = subprocess.run(["fetchmail", "--nodetach", "--fetchmailrc", rc], capture_output=True,
                           env=client_env(self.tmp), timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with open(ids) as f:
            self.assertEqual(len(f.read().splitlines()), len(PRE))
        with open(ids, "a") as f:  # another account's entry is left out
            f.write("bob@127.0.0.1 someone-elses\n")
        self.check_takeover("fm", "fetchmail", ids, len(PRE), other=1)


@unittest.skipUnless(shutil.which("getmail") and shutil.which("setpriv"),
                     "getmail is not installed (Debian package getmail6)")
class Getmail(ImportBase):
    def test_oldmail_file(self):
        md = os.path.join(self.tmp, "Maildir")
        for s in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, s))
        port = self.env.server.pop3
        with open(os.path.join(self.tmp, "getmailrc"), "w") as f:
            f.write(f"""[retriever]
type = SimplePOP3Retriever
server = 127.0.0.1
port = {port}
username = alice
password = alice-secret

[destination]
type = Maildir
path = {md}/

[options]
delete = false
read_all = false
""")
        # getmail refuses to deliver as root.
        subprocess.run(["chown", "-R", "nobody:nogroup", self.tmp], check=True)
        p = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                            "getmail", "--getmaildir=" + self.tmp, "--rcfile=getmailrc"],
                           capture_output=True, env=client_env(self.tmp), timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(len(os.listdir(os.path.join(md, "new"))), len(PRE))
        oldmail = os.path.join(self.tmp, f"oldmail-127.0.0.1-{port}-alice")
        # A file named for another user is refused as a whole.
        other = os.path.join(self.tmp, f"oldmail-127.0.0.1-{port}-bob")
        shutil.copy(oldmail, other)
        write_config(self.config, account(self.env, name="gm", keep=True))
        r = self.import_("gm", "getmail", other)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("imported 0 UIDLs", r.stdout)
        self.assertIn("another server or user", r.stderr)
        self.check_takeover("gm", "getmail", oldmail, len(PRE))


class Errors(ImportBase):
    def test_errors(self):
        write_config(self.config, account(self.env, name="x"))
        r = self.import_("x", "pine", "/nonexistent")
        self.assertEqual(r.returncode, 64, r.stderr)
        r = self.import_("x", "mpop", "/nonexistent")
        self.assertEqual(r.returncode, 66, r.stderr)
        r = self.import_("nope", "mpop", "/nonexistent")
        self.assertEqual(r.returncode, 78, r.stderr)


if __name__ == "__main__":
    run_tests()
