"""What a mailbox owner cannot do with symlinks, and what popbox runs as:
a symlinked new/ cur/ tmp/ (or popbox's own files) refuses the mailbox
without reading, renaming, deleting or writing anything behind the link;
`popbox serve` and `popbox deliver` drop root for [server] user."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import POPBOX, TEST_USER, Env, LineClient, run_tests, task_status, test_ids

PERM_REPLY = b"-ERR [SYS/PERM] The maildrop cannot be opened; contact the administrator."
SECRET = {"s1": b"root only one\n", "new/s2": b"root only two\n", "cur/s3:2,S": b"three\n"}


def snapshot(top):
    """Every name below `top` with its bytes (None for a directory), but
    popbox-usage: the kept quota count changes with every delivery."""
    out = {}
    for root, dirs, files in os.walk(top):
        for d in dirs:
            out[os.path.relpath(os.path.join(root, d), top)] = None
        for f in files:
            if f == "popbox-usage":
                continue
            with open(os.path.join(root, f), "rb") as fh:
                out[os.path.relpath(os.path.join(root, f), top)] = fh.read()
    return out


class Pop3(LineClient):
    def login(self, user="alice", password="alice-secret"):
        self.assertion = self.cmd(f"USER {user}")
        return self.cmd(f"PASS {password}")


def lmtp_env(**kw):
    env = Env(**kw)
    with open(env.config, "a") as f:
        f.write('[lmtp]\nlisten = ["127.0.0.1:0"]\n')
    return env


class SymlinkTest(unittest.TestCase):
    """alice points parts of her Maildir at a root-only directory, or at
    bob's Maildir (which the server's user can reach)."""

    def setUp(self):
        self.env = lmtp_env()
        self.secret = tempfile.mkdtemp(prefix="popbox-secret-")  # root's, mode 0700
        for name, data in SECRET.items():
            os.makedirs(os.path.join(self.secret, os.path.dirname(name)), exist_ok=True)
            with open(os.path.join(self.secret, name), "wb") as f:
                f.write(data)
        self.env.deliver("alice", b"Subject: mine\n\nalice's own\n")
        self.env.deliver("bob@example.com", b"Subject: bob\n\nbob's mail\n")
        self.env.deliver("bob@example.com", b"Subject: bob2\n\nbob's other\n", subdir="cur",
                         name="1700000000.bob2.test:2,S")
        self.md = self.env.maildir("alice")
        self.bob = self.env.maildir("bob@example.com")
        self.server = self.env.start()

    def tearDown(self):
        self.env.close()
        shutil.rmtree(self.secret, ignore_errors=True)

    def targets(self):
        """(directory a link points into, file in it) for both victims."""
        return [(self.secret, os.path.join(self.secret, "s1")),
                (os.path.join(self.bob, "cur"), os.path.join(self.bob, "cur",
                                                             "1700000000.bob2.test:2,S"))]

    def link(self, name, target):
        """Swaps Maildir entry `name` for a symlink to `target` (the real
        entry is kept aside, as ".orig" outside the Maildir)."""
        path = os.path.join(self.md, name)
        if os.path.lexists(path):
            os.rename(path, self.md + "." + name + ".orig")
        os.symlink(target, path)
        os.lchown(path, *test_ids())

    def unlink(self, name):
        path = os.path.join(self.md, name)
        os.unlink(path)
        if os.path.lexists(self.md + "." + name + ".orig"):
            os.rename(self.md + "." + name + ".orig", path)

    def unsafe_lines(self):
        return [l for l in self.server.log_text().splitlines() if "event=unsafe_path" in l]

    def test_pop3_login_refused_for_every_symlinked_entry(self):
        entries = ["cur", "new", "tmp", "popbox-index", "popbox.lock", "popbox-uidls"]
        for target_dir, target_file in self.targets():
            for name in entries:
                with self.subTest(entry=name, target=target_dir):
                    is_dir = name in ("cur", "new", "tmp")
                    before = snapshot(target_dir), snapshot(self.secret), snapshot(self.bob)
                    logged = len(self.unsafe_lines())
                    self.link(name, target_dir if is_dir else target_file)
                    c = Pop3(self.server.pop3)
                    self.assertEqual(c.login(), PERM_REPLY)
                    # Nothing to RETR, DELE or commit: the session has no maildrop.
                    self.assertEqual(c.cmd("STAT"), b"-ERR Unknown command.")
                    c.cmd("QUIT")
                    c.close()
                    time.sleep(0.1)
                    lines = self.unsafe_lines()[logged:]
                    self.assertEqual(len(lines), 1, lines)
                    self.assertRegex(lines[0], r"event=unsafe_path path=\S*/alice/Maildir/"
                                     + re.escape(name) + r" ")
                    self.assertEqual((snapshot(target_dir), snapshot(self.secret),
                                      snapshot(self.bob)), before)
                    self.unlink(name)
        # The repaired mailbox works again, with alice's own message only.
        c = Pop3(self.server.pop3)
        self.assertTrue(c.login().startswith(b"+OK"), "login after the links are gone")
        self.assertTrue(c.cmd("STAT").startswith(b"+OK 1 "))
        c.cmd("QUIT")

    def lmtp(self, recipients):
        s = socket.create_connection(("127.0.0.1", self.server.lmtp), timeout=20)
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"LHLO x\r\n")
        while f.readline().startswith(b"250-"):
            pass
        s.sendall(b"MAIL FROM:<evil@example.org>\r\n")
        self.assertEqual(f.readline(), b"250 2.1.0 Ok\r\n")
        replies = []
        for r in recipients:
            s.sendall(f"RCPT TO:<{r}>\r\n".encode())
            replies.append(f.readline().rstrip(b"\r\n"))
        s.sendall(b"DATA\r\n")
        data_replies = []
        if f.readline().startswith(b"354"):
            s.sendall(b"Subject: planted\r\n\r\nroot-owned content\r\n.\r\n")
            for r, rep in zip(recipients, replies):
                if rep.startswith(b"250"):
                    data_replies.append(f.readline().rstrip(b"\r\n"))
        s.sendall(b"QUIT\r\n")
        s.close()
        return replies, data_replies

    def test_lmtp_450_for_symlinked_dirs_others_delivered(self):
        for name in ("new", "tmp", "cur"):
            for target_dir, _ in self.targets():
                with self.subTest(entry=name, target=target_dir):
                    before = snapshot(self.secret), snapshot(self.bob)
                    self.link(name, target_dir)
                    rcpt, data = self.lmtp(["alice", "carol-not-here@example.com", "bob@example.com"])
                    self.assertEqual(rcpt, [
                        b"450 4.3.0 <alice> Mailbox unavailable, try again later",
                        b"550 5.1.1 <carol-not-here@example.com> User unknown",
                        b"250 2.1.5 Ok"])
                    self.assertEqual(data, [b"250 2.0.0 <bob@example.com> Saved"])
                    after_secret, after_bob = snapshot(self.secret), snapshot(self.bob)
                    self.assertEqual(after_secret, before[0])
                    # bob got exactly one new message; nothing else changed there.
                    added = {k: v for k, v in after_bob.items() if k not in before[1]}
                    self.assertEqual(len(added), 1, added)
                    self.assertTrue(next(iter(added)).startswith("new/"))
                    self.assertIn(b"root-owned content", next(iter(added.values())))
                    self.assertEqual({k: v for k, v in after_bob.items() if k in before[1]},
                                     before[1])
                    self.unlink(name)

    def test_deliver_exits_75_and_writes_nothing(self):
        for name in ("new", "tmp", "cur"):
            with self.subTest(entry=name):
                before = snapshot(self.secret)
                self.link(name, self.secret)
                r = subprocess.run([POPBOX, "deliver", "--config", self.env.config,
                                    "--user", "alice"], input=b"Subject: x\n\nplanted\n",
                                   capture_output=True, timeout=30)
                self.assertEqual(r.returncode, 75, r.stderr)  # EX_TEMPFAIL
                self.assertIn(b"symlink", r.stderr)
                self.assertEqual(snapshot(self.secret), before)
                self.unlink(name)


class SymlinkedRootTest(unittest.TestCase):
    def test_symlinked_maildir_root_still_works(self):
        env = lmtp_env()
        try:
            real = os.path.join(env.dir, "elsewhere", "alice-maildir")
            os.makedirs(real)
            os.makedirs(os.path.dirname(env.maildir("alice")))
            os.symlink(real, env.maildir("alice"))
            server = env.start()
            s = socket.create_connection(("127.0.0.1", server.lmtp), timeout=20)
            f = s.makefile("rb")
            f.readline()
            s.sendall(b"LHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<alice>\r\nDATA\r\n")
            while not f.readline().startswith(b"354"):
                pass
            s.sendall(b"Subject: via link\r\n\r\nhello\r\n.\r\nQUIT\r\n")
            self.assertEqual(f.readline(), b"250 2.0.0 <alice> Saved\r\n")
            s.close()
            self.assertEqual(len(os.listdir(os.path.join(real, "new"))), 1)
            c = Pop3(server.pop3)
            self.assertTrue(c.login().startswith(b"+OK"))
            self.assertTrue(c.cmd("STAT").startswith(b"+OK 1 "))
            self.assertTrue(c.cmd("RETR 1").startswith(b"+OK"))
            body = b""
            while not body.endswith(b"\r\n.\r\n"):
                body += c.line() + b"\r\n"
            self.assertIn(b"Subject: via link\r\n", body)
            self.assertEqual(c.cmd("QUIT")[:3], b"+OK")
            c.close()
            time.sleep(0.1)
            self.assertEqual(len(os.listdir(os.path.join(real, "cur"))), 1, "RETR marks seen")
        finally:
            env.close()


def task_ids(pid):
    """{task id: (uids, gids, groups)} of every thread of `pid`."""
    return {tid: (f["Uid"], f["Gid"], f["Groups"]) for tid, f in task_status(pid).items()}


class PrivilegeTest(unittest.TestCase):
    def test_every_thread_runs_as_the_user(self):
        env = Env(extra_server="threads = 3\n")
        try:
            server = env.start()
            uid, gid = test_ids()
            log = server.log_text()
            self.assertIn(f"event=privileges user={TEST_USER} uid={uid} gid={gid}", log)
            # The drop comes after every listener is bound.
            self.assertLess(log.rindex("event=listening"), log.index("event=privileges"))
            c = Pop3(server.pop3)  # a session starts the blocking pool too
            self.assertTrue(c.login().startswith(b"+OK"))
            tasks = task_ids(server.proc.pid)
            self.assertGreaterEqual(len(tasks), 4, tasks)  # 3 event threads + the pool
            for tid, (uids, gids, groups) in tasks.items():
                self.assertEqual(uids, [str(uid)] * 4, tid)
                self.assertEqual(gids, [str(gid)] * 4, tid)
                self.assertEqual(groups, [str(gid)], tid)
            c.cmd("QUIT")
            # Files the server creates belong to the user, not root.
            st = os.stat(os.path.join(env.maildir("alice"), "popbox.lock"))
            self.assertEqual((st.st_uid, st.st_gid), (uid, gid))
        finally:
            env.close()

    def test_root_without_user_exits_78(self):
        env = Env(run_as=None)
        try:
            serve = subprocess.run([POPBOX, "serve", "--config", env.config],
                                   capture_output=True, timeout=20)
            self.assertEqual(serve.returncode, 78, serve.stderr)
            self.assertIn(b"refusing to run as root: set [server] user", serve.stderr)
            deliver = subprocess.run([POPBOX, "deliver", "--config", env.config, "--user",
                                      "alice"], input=b"Subject: x\n\nx\n", capture_output=True,
                                     timeout=20)
            self.assertEqual(deliver.returncode, 78, deliver.stderr)
            self.assertIn(b"refusing to run as root", deliver.stderr)
            self.assertFalse(os.path.exists(env.maildir("alice")), "nothing written as root")
        finally:
            env.close()

    def test_deliver_as_root_drops_to_the_user(self):
        env = Env()
        try:
            r = subprocess.run([POPBOX, "deliver", "--config", env.config, "--user", "alice"],
                               input=b"Subject: x\n\nx\n", capture_output=True, timeout=20)
            self.assertEqual(r.returncode, 0, r.stderr)
            uid, gid = test_ids()
            new = os.path.join(env.maildir("alice"), "new")
            files = os.listdir(new)
            self.assertEqual(len(files), 1)
            for p in (new, os.path.join(new, files[0])):
                st = os.stat(p)
                self.assertEqual((st.st_uid, st.st_gid), (uid, gid), p)
        finally:
            env.close()

    def test_sighup_after_drop_rereads_users_and_cert(self):
        env = Env()
        try:
            server = env.start()
            with open(env.passwd, "a") as f:
                f.write("carol:{PLAIN}carol-pw::::::\n")
            server.kill(signal.SIGHUP)
            deadline = time.time() + 10
            while "what=tls result" not in server.log_text() and time.time() < deadline:
                time.sleep(0.05)
            log = server.log_text()
            self.assertIn("event=reload what=users result=ok", log)
            self.assertIn("event=reload what=tls result=ok", log)
            c = Pop3(server.pop3)
            self.assertTrue(c.login("carol", "carol-pw").startswith(b"+OK"))
            c.cmd("QUIT")
            # A passwd-file the user cannot read: the reload fails, the old
            # users stay, and `popbox check` names the file.
            os.chown(env.passwd, 0, 0)
            os.chmod(env.passwd, 0o600)
            server.kill(signal.SIGHUP)
            deadline = time.time() + 10
            while "what=users result=failed" not in server.log_text() and time.time() < deadline:
                time.sleep(0.05)
            self.assertIn("what=users result=failed", server.log_text())
            c = Pop3(server.pop3)
            self.assertTrue(c.login("carol", "carol-pw").startswith(b"+OK"))
            c.cmd("QUIT")
        finally:
            env.close()

    def test_check_names_what_the_user_cannot_use(self):
        env = Env()
        try:
            ok = subprocess.run([POPBOX, "check", "--config", env.config], capture_output=True)
            self.assertEqual(ok.returncode, 0, ok.stderr)
            for path in (env.passwd, env.key):
                os.chown(path, 0, 0)
                os.chmod(path, 0o600)
            os.makedirs(env.mail_root, exist_ok=True)
            os.chown(env.mail_root, 0, 0)
            bad = subprocess.run([POPBOX, "check", "--config", env.config], capture_output=True)
            self.assertEqual(bad.returncode, 78)
            err = bad.stderr.decode()
            self.assertIn(f"[server] user {TEST_USER} cannot read the passwd-file {env.passwd}",
                          err)
            self.assertIn(f"cannot read the TLS key {env.key}", err)
            self.assertNotIn("TLS certificate", err)
            self.assertIn(f"[server] user {TEST_USER} cannot write the mail root {env.mail_root}",
                          err)
        finally:
            env.close()


if __name__ == "__main__":
    run_tests()
