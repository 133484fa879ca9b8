"""System users' mailboxes: a passwd-file entry with uid/gid has its Maildir
(mode 0700, owned by that uid) read, changed and written with those ids on
the pool thread doing the I/O, while every thread of the server stays the
[server] user with only CAP_SETUID/CAP_SETGID (and no capability at all
when no entry needs them). Root's ids and uids below [auth] first_valid_uid
are refused; one user's ids cannot open another's 0700 Maildir."""

import os
import pwd
import signal
import socket
import subprocess
import time
import unittest

from harness import POPBOX, Env, LineClient, Server, run_tests, task_status, test_ids, wire_form

PERM_REPLY = b"-ERR [SYS/PERM] The maildrop cannot be opened; contact the administrator."
MAIL_USERS = ("popboxmail1", "popboxmail2")
CAP_SETID = (1 << 6) | (1 << 7)  # CAP_SETGID, CAP_SETUID


def ensure_system_user(name):
    """(uid, gid) of `name`, created as a system user if missing."""
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", name], check=False, capture_output=True, timeout=30)
        pw = pwd.getpwnam(name)
    return pw.pw_uid, pw.pw_gid


def give(path, uid, gid):
    """Gives the tree at `path` to uid/gid: directories 0700, files 0600."""
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        os.chmod(root, 0o700)
        for f in files:
            os.chown(os.path.join(root, f), uid, gid)
            os.chmod(os.path.join(root, f), 0o600)


def thread_status(pid):
    """{tid: (Uid fields, CapEff)} of every thread of `pid`."""
    return {tid: (f["Uid"], int(f["CapEff"][0], 16)) for tid, f in task_status(pid).items()}


class Pop3(LineClient):
    def login(self, user, password):
        self.cmd(f"USER {user}")
        return self.cmd(f"PASS {password}")

    def retr(self, n):
        """The status line and the message as sent, unstuffed, CRLF kept."""
        status = self.cmd(f"RETR {n}")
        body = b""
        if status.startswith(b"+OK"):
            while True:
                line = self.line()
                if line == b".":
                    break
                body += (line[1:] if line.startswith(b".") else line) + b"\r\n"
        return status, body


def lmtp_deliver(port, recipients, body=b"Subject: lmtp\r\n\r\nvia lmtp\r\n"):
    """RCPT replies and the DATA replies of the accepted recipients."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"LHLO x\r\n")
    while f.readline().startswith(b"250-"):
        pass
    s.sendall(b"MAIL FROM:<sender@example.org>\r\n")
    f.readline()
    replies = []
    for r in recipients:
        s.sendall(f"RCPT TO:<{r}>\r\n".encode())
        replies.append(f.readline().rstrip(b"\r\n"))
    data = []
    if any(r.startswith(b"250") for r in replies):
        s.sendall(b"DATA\r\n")
        f.readline()
        s.sendall(body + b".\r\n")
        data = [f.readline().rstrip(b"\r\n") for r in replies if r.startswith(b"250")]
    s.sendall(b"QUIT\r\n")
    s.close()
    return replies, data


class UidEnv:
    """An Env whose passwd-file gives users uid/gid fields: `ids` maps a
    user to (uid, gid) or None (the server user)."""

    def __init__(self, ids, first_valid_uid=None, lmtp=True, extra=None):
        self.env = Env(users={u: f"{u}-pw" for u in ids})
        with open(self.env.passwd, "w") as f:
            for user, owner in ids.items():
                uid, gid = owner if owner else ("", "")
                f.write(f"{user}:{{PLAIN}}{user}-pw:{uid}:{gid}::::{(extra or {}).get(user, '')}\n")
        with open(self.env.config) as f:
            conf = f.read()
        if first_valid_uid is not None:
            conf = conf.replace("[auth]\n", f"[auth]\nfirst_valid_uid = {first_valid_uid}\n", 1)
        if lmtp:
            conf += '[lmtp]\nlisten = ["127.0.0.1:0"]\n'
        with open(self.env.config, "w") as f:
            f.write(conf)
        self.ids = ids
        self.server = None

    def maildir(self, user):
        return self.env.maildir(user)

    def put(self, user, subdir, name, data):
        md = self.maildir(user)
        for d in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, d), exist_ok=True)
        with open(os.path.join(md, subdir, name), "wb") as f:
            f.write(data)

    def start(self):
        for user in self.ids:
            os.makedirs(os.path.dirname(self.maildir(user)), exist_ok=True)  # mail/<user>
        self.env.chown()  # the server user's, then each owner's own tree
        for user, owner in self.ids.items():
            if owner:
                give(os.path.dirname(self.maildir(user)), *owner)
        self.server = Server(self.env.config)
        self.env.server = self.server
        return self.server

    def close(self):
        self.env.close()


class SystemUserTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m1 = ensure_system_user(MAIL_USERS[0])
        cls.m2 = ensure_system_user(MAIL_USERS[1])

    def setUp(self):
        # m1 has a quota: LMTP measures the Maildir (as m1) at RCPT and DATA.
        self.u = UidEnv({"m1": self.m1, "m2": self.m2, "plain": None},
                        first_valid_uid=min(self.m1[0], self.m2[0]),
                        extra={"m1": "userdb_quota_rule=*:storage=1M"})
        self.first = b"Subject: one\n\nfirst body\n.dot line\n"
        self.second = b"Subject: two\n\nsecond\n"
        self.u.put("m1", "new", "1700000001.M1P1.test", self.first)
        self.u.put("m1", "new", "1700000002.M2P1.test", self.second)
        self.u.put("m2", "cur", "1700000003.M3P1.test:2,S", b"Subject: m2\n\nm2 private\n")
        self.server = self.u.start()
        self.addCleanup(self.u.close)

    def files(self, user, subdir):
        return sorted(os.listdir(os.path.join(self.u.maildir(user), subdir)))

    def test_maildir_is_not_the_server_users(self):
        uid, _ = test_ids()
        st = os.stat(self.u.maildir("m1"))
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (self.m1[0], 0o700))
        self.assertNotEqual(st.st_uid, uid)
        # The server user itself cannot even list it.
        r = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={test_ids()[1]}",
                            "--clear-groups", "ls", self.u.maildir("m1")],
                           capture_output=True, timeout=20)
        self.assertNotEqual(r.returncode, 0, r.stdout)

    def test_retr_dele_quit_as_the_owner(self):
        c = Pop3(self.server.pop3)
        self.assertTrue(c.login("m1", "m1-pw").startswith(b"+OK"), self.server.log_text())
        self.assertTrue(c.cmd("STAT").startswith(b"+OK 2 "))
        status, body = c.retr(1)
        self.assertTrue(status.startswith(b"+OK"))
        self.assertEqual(body, wire_form(self.first))
        status, body = c.retr(2)
        self.assertEqual(body, wire_form(self.second))
        self.assertTrue(c.cmd("DELE 1").startswith(b"+OK"))
        self.assertTrue(c.cmd("QUIT").startswith(b"+OK"))
        c.close()
        # The deleted file is gone, the retrieved one moved new/ -> cur/.
        self.assertEqual(self.files("m1", "new"), [])
        cur = self.files("m1", "cur")
        self.assertEqual(len(cur), 1, cur)
        self.assertTrue(cur[0].startswith("1700000002.M2P1.test"), cur)
        # What popbox created in the Maildir (lock, index) is the owner's.
        for name in os.listdir(self.u.maildir("m1")):
            st = os.stat(os.path.join(self.u.maildir("m1"), name))
            self.assertEqual((st.st_uid, st.st_gid), self.m1, name)

    def test_lmtp_writes_as_each_owner(self):
        rcpt, data = lmtp_deliver(self.server.lmtp, ["m1", "m2", "plain"])
        self.assertEqual([r[:3] for r in rcpt], [b"250"] * 3, self.server.log_text())
        self.assertEqual([d[:3] for d in data], [b"250"] * 3)
        for user, owner in (("m1", self.m1), ("m2", self.m2), ("plain", test_ids())):
            new = [n for n in self.files(user, "new") if not n.startswith("1700")]
            self.assertEqual(len(new), 1, (user, new))
            st = os.stat(os.path.join(self.u.maildir(user), "new", new[0]))
            self.assertEqual((st.st_uid, st.st_gid), owner, user)

    def test_deliver_writes_with_the_owners_ids(self):
        r = subprocess.run([POPBOX, "deliver", "--config", self.u.env.config, "--user", "m2"],
                           input=b"Subject: d\n\nby deliver\n", capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        new = self.files("m2", "new")
        self.assertEqual(len(new), 1, new)
        path = os.path.join(self.u.maildir("m2"), "new", new[0])
        st = os.stat(path)
        self.assertEqual((st.st_uid, st.st_gid), self.m2)
        with open(path, "rb") as f:
            self.assertTrue(f.read().endswith(b"\n\nby deliver\n"))

    def test_threads_are_the_server_user_and_only_the_mail_pool_keeps_setid_caps(self):
        c = Pop3(self.server.pop3)  # a session runs work on both pools
        self.assertTrue(c.login("m1", "m1-pw").startswith(b"+OK"))
        self.assertTrue(c.retr(1)[0].startswith(b"+OK"))
        uid, _ = test_ids()
        tasks = thread_status(self.server.proc.pid)
        self.assertGreaterEqual(len(tasks), 3, tasks)
        for tid, (uids, cap_eff) in tasks.items():
            self.assertEqual(uids[:2], [str(uid)] * 2, tid)  # real, effective
            self.assertIn(cap_eff, (0, CAP_SETID), (tid, hex(cap_eff)))
        # Only the mail pool acts for owners and keeps the two capabilities;
        # the main thread (an event thread) and the rest have none.
        self.assertEqual(tasks[str(self.server.proc.pid)][1], 0, tasks)
        with_caps = [t for t, (_, cap) in tasks.items() if cap == CAP_SETID]
        self.assertGreaterEqual(len(with_caps), 1, tasks)
        self.assertLess(len(with_caps), len(tasks), tasks)
        c.cmd("QUIT")
        self.assertIn("capabilities=setuid,setgid", self.server.log_text())


class MissingMaildirTest(unittest.TestCase):
    def test_maildir_created_with_the_owners_ids_mode_0700(self):
        m1 = ensure_system_user(MAIL_USERS[0])
        u = UidEnv({"m1": m1}, first_valid_uid=m1[0])
        self.addCleanup(u.close)
        server = u.start()  # mail/m1 exists (the owner's), Maildir does not
        self.assertFalse(os.path.exists(u.maildir("m1")))
        c = Pop3(server.pop3)
        self.assertTrue(c.login("m1", "m1-pw").startswith(b"+OK"), server.log_text())
        self.assertEqual(c.cmd("STAT"), b"+OK 0 0")
        c.cmd("QUIT")
        for sub in ("", "new", "cur", "tmp"):
            st = os.stat(os.path.join(u.maildir("m1"), sub))
            self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777), (*m1, 0o700), sub)


class RefusedOwnerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m1 = ensure_system_user(MAIL_USERS[0])
        cls.m2 = ensure_system_user(MAIL_USERS[1])

    def test_other_users_ids_cannot_open_a_0700_maildir(self):
        # A misconfigured entry: m2's name (so m2's Maildir) with m1's ids.
        u = UidEnv({"m2": self.m1}, first_valid_uid=1)
        self.addCleanup(u.close)
        u.put("m2", "new", "1700000009.M9P1.test", b"Subject: secret\n\nm2 only\n")
        u.start()
        give(os.path.dirname(u.maildir("m2")), *self.m2)  # really m2's
        before = sorted(os.listdir(os.path.join(u.maildir("m2"), "new")))
        c = Pop3(u.server.pop3)
        self.assertEqual(c.login("m2", "m2-pw"), PERM_REPLY)
        c.close()
        self.assertEqual(sorted(os.listdir(os.path.join(u.maildir("m2"), "new"))), before)
        rcpt, _ = lmtp_deliver(u.server.lmtp, ["m2"])
        # EACCES is store::failure::permanent (an operator must fix it), as
        # for POP3: 450, still a temporary reply the MTA retries.
        self.assertEqual(rcpt[0][:3], b"450", u.server.log_text())
        self.assertEqual(sorted(os.listdir(os.path.join(u.maildir("m2"), "new"))), before)

    def test_root_ids_and_low_uids_are_refused(self):
        u = UidEnv({"r0": (0, 0), "g0": (self.m1[0], 0), "low": self.m2,
                    "fine": self.m1}, first_valid_uid=self.m2[0] + 1)
        self.addCleanup(u.close)
        if self.m1[0] <= self.m2[0]:
            self.skipTest("needs popboxmail1's uid above popboxmail2's")
        server = u.start()
        for user in ("r0", "g0", "low"):
            with self.subTest(user=user):
                c = Pop3(server.pop3)
                self.assertEqual(c.login(user, f"{user}-pw"), PERM_REPLY)
                c.close()
                self.assertFalse(os.path.exists(u.maildir(user)), "nothing created")
        rcpt, data = lmtp_deliver(server.lmtp, ["r0", "g0", "low", "fine"])
        self.assertEqual(rcpt[:3], [
            f"450 4.3.0 <{r}> Mailbox unavailable, try again later".encode()
            for r in ("r0", "g0", "low")])
        self.assertEqual(rcpt[3][:3], b"250")
        self.assertEqual(len(data), 1)
        log = server.log_text()
        self.assertIn("the mailbox owner's uid/gid are refused", log)
        self.assertIn("uid/gid of the entry refused", log)
        for user in ("r0", "g0", "low"):
            self.assertFalse(os.path.exists(u.maildir(user)), user)


class NoOwnersTest(unittest.TestCase):
    def test_no_capabilities_without_such_entries(self):
        u = UidEnv({"plain": None}, lmtp=False)
        self.addCleanup(u.close)
        server = u.start()
        c = Pop3(server.pop3)
        self.assertTrue(c.login("plain", "plain-pw").startswith(b"+OK"))
        uid, _ = test_ids()
        for tid, (uids, cap_eff) in thread_status(server.proc.pid).items():
            self.assertEqual(uids[:2], [str(uid)] * 2, tid)
            self.assertEqual(cap_eff, 0, tid)
        c.cmd("QUIT")
        self.assertIn("capabilities=none", server.log_text())

    def test_owner_added_after_start_is_refused_until_restart(self):
        m1 = ensure_system_user(MAIL_USERS[0])
        u = UidEnv({"plain": None}, lmtp=False)
        self.addCleanup(u.close)
        server = u.start()
        top = os.path.dirname(u.maildir("m1"))
        os.makedirs(top)
        give(top, *m1)
        with open(u.env.passwd, "a") as f:
            f.write(f"m1:{{PLAIN}}m1-pw:{m1[0]}:{m1[1]}::::\n")
        server.kill(signal.SIGHUP)
        deadline = time.time() + 10
        while "what=users result=ok" not in server.log_text() and time.time() < deadline:
            time.sleep(0.05)
        c = Pop3(server.pop3)
        self.assertEqual(c.login("m1", "m1-pw"), PERM_REPLY)
        c.close()
        self.assertIn(f"event=owner_switch_failed uid={m1[0]} gid={m1[1]}", server.log_text())
        self.assertFalse(os.path.exists(u.maildir("m1")), "nothing created as the server user")


if __name__ == "__main__":
    run_tests()
