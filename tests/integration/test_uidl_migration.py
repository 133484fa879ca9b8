"""Issue 3, UIDLs that survive anything: a Maildir first served by the real
Dovecot (dovecot-pop3d) and then by popbox shows the same UIDL for every
message, before and after `popbox uidl import`, restarts, index loss and the
loss of Dovecot's files. Courier's courierpop3dsizelist is adopted too, and
X-UIDL headers with `[mail] uidl_adopt_x_uidl = true` only (synthetic
files); `popbox uidl import --dry-run` reports what a client would see change.
"""

import hashlib
import os
import poplib
import re
import shutil
import subprocess
import unittest

import dovecot
from harness import POPBOX, Env, run_tests

PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}


def message(i: int) -> bytes:
    return (f"From: sender{i}@example.com\nTo: alice@example.com\nSubject: message {i}\n\n"
            f"Body of message {i}.\nSecond line.\n").encode()


def listing(port: int, user: str) -> dict:
    """UIDL -> SHA-256 of the message RETR returns: which UIDL each message has."""
    p = poplib.POP3("127.0.0.1", port, timeout=20)
    try:
        p.user(user)
        p.pass_(PASSWORDS[user])
        out = {}
        for line in p.uidl()[1]:
            num, uidl = line.decode().split()
            body = b"\r\n".join(p.retr(int(num))[1])
            out[uidl] = hashlib.sha256(body).hexdigest()
        return out
    finally:
        p.quit()


def import_uidls(env: Env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([POPBOX, "uidl", "import", "--config", env.config, *args],
                          capture_output=True, text=True, timeout=120)


def user_line(output: str, user: str) -> dict:
    """The key=value fields of the summary line of `user`."""
    for line in output.splitlines():
        if line.startswith(f"user={user} ") and " change " not in line:
            return dict(re.findall(r"(\w+)=(\S+)", line))
    raise AssertionError(f"no line for {user}:\n{output}")


@unittest.skipUnless(dovecot.available(), "dovecot-pop3d is not installed")
class DovecotMigration(unittest.TestCase):
    def setUp(self):
        self.make_env(6)

    def make_env(self, count, prefix=b"", **kwargs):
        self.env = Env(users={"alice": PASSWORDS["alice"]}, tls=False, **kwargs)
        self.addCleanup(self.env.close)
        for i in range(1, count + 1):
            self.env.deliver("alice", (prefix % i if prefix else b"") + message(i))
        self.maildir = self.env.maildir("alice")

    def serve_with_dovecot(self, extra_config="", delete=None):
        """Lets a client fetch the list from Dovecot (which writes
        dovecot-uidlist), reads one message, optionally deletes one."""
        dv = dovecot.Dovecot(self.maildir, {"alice": PASSWORDS["alice"]},
                             extra_config=extra_config)
        try:
            p = poplib.POP3("127.0.0.1", dv.port, timeout=20)
            p.user("alice")
            p.pass_(PASSWORDS["alice"])
            p.retr(1)  # Dovecot moves it to cur/ with :2,S
            if delete:
                p.dele(delete)
            p.quit()
            seen = listing(dv.port, "alice")
        finally:
            dv.stop()
        self.assertTrue(os.path.exists(os.path.join(self.maildir, "dovecot-uidlist")))
        return seen

    def test_same_uidls_after_switching_from_dovecot(self):
        dovecot_view = self.serve_with_dovecot(delete=3)
        self.assertEqual(len(dovecot_view), 5)
        self.assertTrue(all(re.fullmatch(r"[0-9a-f]{16}", u) for u in dovecot_view))

        report = import_uidls(self.env, "--user", "alice", "--dry-run")
        self.assertEqual(report.returncode, 0, report.stdout + report.stderr)
        fields = user_line(report.stdout, "alice")
        self.assertEqual((fields["messages"], fields["dovecot"], fields["changed"]), ("5", "5", "0"))
        self.assertFalse(os.path.exists(os.path.join(self.maildir, "popbox-uidls")))

        server = self.env.start()
        self.assertEqual(listing(server.pop3, "alice"), dovecot_view)
        # The report now compares what Dovecot showed with what popbox shows.
        report = import_uidls(self.env, "--all", "--dry-run")
        self.assertEqual(report.returncode, 0, report.stdout + report.stderr)
        fields = user_line(report.stdout, "alice")
        self.assertEqual((fields["changed"], fields["adoption"]), ("0", "closed"))

        # A message delivered after the switch gets a new UIDL; the old ones stay.
        self.env.deliver("alice", message(7))
        after = listing(server.pop3, "alice")
        new = set(after) - set(dovecot_view)
        self.assertEqual(len(new), 1)
        self.assertEqual({u: after[u] for u in dovecot_view}, dovecot_view)

        # Restart, index loss, loss of Dovecot's files: nothing changes.
        server.stop()
        os.remove(os.path.join(self.maildir, "popbox-index"))
        os.remove(os.path.join(self.maildir, "dovecot-uidlist"))
        server = self.env.start()
        self.assertEqual(listing(server.pop3, "alice"), after)

        # The Maildir copied elsewhere (say, another host) keeps them too.
        server.stop()
        copy = os.path.join(self.env.dir, "copy")
        shutil.copytree(self.maildir, copy)
        shutil.rmtree(self.maildir)
        shutil.copytree(copy, self.maildir)
        os.remove(os.path.join(self.maildir, "popbox-index"))
        server = self.env.start()
        self.assertEqual(listing(server.pop3, "alice"), after)

    def test_import_records_before_the_first_login(self):
        dovecot_view = self.serve_with_dovecot()
        result = import_uidls(self.env, "--all")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        fields = user_line(result.stdout, "alice")
        self.assertEqual((fields["changed"], fields["recorded"]), ("0", "6"))
        # The recorded UIDLs no longer need Dovecot's files.
        os.remove(os.path.join(self.maildir, "dovecot-uidlist"))
        # popbox's files belong to the Maildir's owner, as Dovecot's do.
        owner = os.stat(self.maildir).st_uid
        for name in ("popbox-uidls", "popbox.lock"):
            self.assertEqual(os.stat(os.path.join(self.maildir, name)).st_uid, owner, name)
        server = self.env.start()
        self.assertEqual(listing(server.pop3, "alice"), dovecot_view)

    def test_configured_dovecot_format(self):
        # Dovecot ran with another pop3_uidl_format; [mail] uidl_format says so.
        self.make_env(3, mail_extra='uidl_format = "%v.%u"\n')
        dovecot_view = self.serve_with_dovecot(extra_config="pop3_uidl_format = %v.%u")
        self.assertTrue(all(re.fullmatch(r"\d+\.\d", u) for u in dovecot_view), dovecot_view)
        report = import_uidls(self.env, "--user", "alice", "--dry-run")
        self.assertEqual(user_line(report.stdout, "alice")["changed"], "0", report.stdout)
        # Recorded by the import, so even a server that has not been told
        # the format shows them.
        result = import_uidls(self.env, "--user", "alice")
        self.assertEqual(user_line(result.stdout, "alice")["recorded"], "3", result.stdout)
        server = self.env.start()
        self.assertEqual(listing(server.pop3, "alice"), dovecot_view)

    def test_report_warns_about_x_uidl_headers(self):
        # Dovecot showed X-UIDL headers (pop3_reuse_xuidl = yes), which
        # dovecot-uidlist does not say: the report points at them.
        self.make_env(3, prefix=b"X-UIDL: legacy-%d\n")
        dovecot_view = self.serve_with_dovecot(extra_config="pop3_reuse_xuidl = yes")
        self.assertEqual(sorted(dovecot_view), ["legacy-1", "legacy-2", "legacy-3"])
        report = import_uidls(self.env, "--user", "alice", "--dry-run")
        fields = user_line(report.stdout, "alice")
        self.assertEqual((fields["dovecot"], fields["x_uidl_ignored"]), ("3", "3"), report.stdout)
        self.assertIn("pop3_reuse_xuidl", report.stdout)


class SyntheticSources(unittest.TestCase):
    """Courier and X-UIDL, from files written as those servers write them."""

    def setUp(self, mail_extra="uidl_adopt_x_uidl = true\n"):
        self.env = Env(users=PASSWORDS, tls=False, mail_extra=mail_extra)
        self.addCleanup(self.env.close)
        # bob: a Maildir served by Courier pop3d (it keeps everything in cur/).
        bob = self.env.maildir("bob")
        names = []
        for i in range(1, 4):
            path = self.env.deliver("bob", message(i), subdir="cur",
                                    name=f"112000000{i}.M{i}P7.courier:2,S")
            names.append(os.path.basename(path))
        with open(os.path.join(bob, "courierpop3dsizelist"), "w") as f:
            f.write("/3 4 1120000000\n")
            for i, name in enumerate(names, 1):
                f.write(f"{name} {len(message(i)) + 6} {i}:1120000000:0\n")
        # carol: messages converted from an mbox served by qpopper (X-UIDL).
        for i in range(1, 4):
            self.env.deliver("carol", f"X-UIDL: qp{i:04d}abc\n".encode() + message(i))
        self.env.deliver("carol", message(4))  # no X-UIDL: the name rule

    def test_courier_and_x_uidl(self):
        report = import_uidls(self.env, "--all", "--dry-run")
        self.assertEqual(report.returncode, 0, report.stdout + report.stderr)
        bob, carol = user_line(report.stdout, "bob"), user_line(report.stdout, "carol")
        self.assertEqual((bob["courier"], bob["changed"], bob["would_record"]), ("3", "0", "3"))
        self.assertEqual((carol["x_uidl"], carol["changed"]), ("3", "0"))
        self.assertEqual(user_line(report.stdout, "alice")["skipped"], "no-maildir")
        self.assertIn("total users=3", report.stdout)

        server = self.env.start()
        self.assertEqual(sorted(listing(server.pop3, "bob")),
                         ["UID1-1120000000", "UID2-1120000000", "UID3-1120000000"])
        first = listing(server.pop3, "carol")
        qpopper = {"qp0001abc", "qp0002abc", "qp0003abc"}
        self.assertEqual(len(first), 4)
        self.assertLessEqual(qpopper, set(first))
        # Adoption ended at the first login: a newcomer's X-UIDL is ignored
        # (a sender could choose it), the adopted UIDLs stay.
        self.env.deliver("carol", b"X-UIDL: qp0001abc\n" + message(5))
        self.env.deliver("carol", b"X-UIDL: fresh\n" + message(6))
        after = listing(server.pop3, "carol")
        self.assertEqual(len(after), 6)
        self.assertNotIn("fresh", after)
        self.assertEqual({u: after[u] for u in first}, first)

    def test_maildir_in_use_is_skipped(self):
        server = self.env.start()
        p = poplib.POP3("127.0.0.1", server.pop3, timeout=20)
        p.user("bob")
        p.pass_(PASSWORDS["bob"])
        try:
            report = import_uidls(self.env, "--user", "bob", "--dry-run")
            self.assertEqual(report.returncode, 75, report.stdout + report.stderr)  # EX_TEMPFAIL
            self.assertIn("user=bob skipped=in-use", report.stdout)
        finally:
            p.quit()
        report = import_uidls(self.env, "--user", "bob", "--dry-run")
        self.assertEqual(report.returncode, 0, report.stdout + report.stderr)
        self.assertEqual(user_line(report.stdout, "bob")["adoption"], "closed")

    def test_usage_errors(self):
        self.assertEqual(import_uidls(self.env).returncode, 64)  # neither --user nor --all
        self.assertEqual(import_uidls(self.env, "--user", "nobody").returncode, 67)


class XUidlOffByDefault(unittest.TestCase):
    """Without the key an X-UIDL header (any sender can write one) is never a
    UIDL: the name rule decides, and the import report says so."""

    def setUp(self):
        SyntheticSources.setUp(self, mail_extra="")  # the same Maildirs, the key unset

    def test_x_uidl_header_is_not_adopted(self):
        report = import_uidls(self.env, "--user", "carol", "--dry-run")
        self.assertEqual(report.returncode, 0, report.stdout + report.stderr)
        carol = user_line(report.stdout, "carol")
        self.assertEqual((carol["x_uidl"], carol["x_uidl_ignored"], carol["x_uidl_adopt"]),
                         ("0", "3", "off"), report.stdout)
        self.assertIn("uidl_adopt_x_uidl = true", report.stdout)
        server = self.env.start()
        names = os.listdir(os.path.join(self.env.maildir("carol"), "new"))
        by_name = sorted(re.sub(r",S=\d+$", "", n) for n in names)  # the name rule
        self.assertEqual(sorted(listing(server.pop3, "carol")), by_name)


if __name__ == "__main__":
    run_tests()
