"""The admin socket and `popbox who|kick|mailbox stat|expunge|reload`
(issue 9): an operator sees live sessions, ends them without losing mail
(only QUIT commits), looks at and ages out maildrops under the maildrop
lock, and reloads users, over a unix socket only its group may use."""

import grp
import json
import os
import poplib
import pwd
import re
import socket
import ssl
import stat
import subprocess
import time
import unittest

from harness import POPBOX, TEST_USER, Env, LineClient, run_tests

EX_UNAVAILABLE = 69
EX_NOPERM = 77
EX_TEMPFAIL = 75
DAY = 86400

USERS = {"alice": "alice-secret", "bob": "bob-secret"}


def admin(env, *args, as_nobody=False, groups=None, timeout=60):
    """Runs `popbox ARGS -c CONFIG`; returns (exit code, stdout, stderr)."""
    cmd = [POPBOX, *args, "-c", env.config]
    if as_nobody:
        ids = ["--reuid", "nobody", "--regid", "nogroup"]
        ids += ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
        cmd = ["setpriv", *ids, "--", *cmd]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def raw_request(path, data: bytes, shut=True, timeout=20):
    """Sends `data` to the admin socket; the reply as parsed JSON."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(path)
        if data:
            s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    return json.loads(reply)


def login(port, user, source=None):
    c = LineClient(port, source=source)
    assert c.cmd(f"USER {user}").startswith(b"+OK")
    reply = c.cmd(f"PASS {USERS[user]}")
    assert reply.startswith(b"+OK"), reply
    return c


class AdminBase(unittest.TestCase):
    def setUp(self):
        self.env = Env(users=dict(USERS))
        self.sock = os.path.join(self.env.dir, "run", "admin.sock")
        with open(self.env.config, "a") as f:
            f.write(f'[admin]\nsocket = "{self.sock}"\n')
        for i in range(3):
            self.env.deliver("alice", f"Subject: {i}\n\nbody {i}\n".encode())
        self.server = self.env.start()

    def tearDown(self):
        self.env.close()

    def who(self):
        rc, out, err = admin(self.env, "who", "--json")
        self.assertEqual(rc, 0, err)
        return json.loads(out)

    def wait_log(self, pattern, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if re.search(pattern, self.server.log_text()):
                return
            time.sleep(0.05)
        self.fail(f"no {pattern!r} in the log:\n{self.server.log_text()}")


class WhoAndKick(AdminBase):
    def test_socket_mode_owner_and_group(self):
        st = os.lstat(self.sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        pw = pwd.getpwnam(TEST_USER)
        self.assertEqual((st.st_uid, st.st_gid), (pw.pw_uid, pw.pw_gid))
        # The directory the server made belongs to the service user too.
        self.assertEqual(os.lstat(os.path.dirname(self.sock)).st_uid, pw.pw_uid)

    def test_who_shows_a_plain_session_from_its_address(self):
        c = login(self.server.pop3, "alice", source="127.0.0.2")
        self.assertTrue(c.cmd("STAT").startswith(b"+OK 3 "))
        sessions = self.who()
        self.assertEqual(len(sessions), 1, sessions)
        s = sessions[0]
        self.assertEqual(s["user"], "alice")
        self.assertTrue(s["peer"].startswith("127.0.0.2"), s)
        self.assertEqual((s["proto"], s["tls"], s["state"]), ("pop3", "", "transaction"))
        self.assertGreater(s["bytes_in"], 0)
        self.assertGreater(s["bytes_out"], 0)
        self.assertLessEqual(abs(s["since"] - time.time()), 60)
        rc, out, err = admin(self.env, "who")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, rf"(?m)^{s['id']}\s+alice\s+127\.0\.0\.2\S*\s+-\s+transaction")
        c.cmd("QUIT")

    def test_who_shows_tls_of_a_pop3s_session_and_one_not_logged_in(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", self.server.pop3s), timeout=20)
        tls = LineClient(sock=ctx.wrap_socket(raw))
        self.assertTrue(tls.cmd("USER bob").startswith(b"+OK"))
        self.assertTrue(tls.cmd("PASS bob-secret").startswith(b"+OK"))
        anon = LineClient(self.server.pop3)
        sessions = {s["proto"]: s for s in self.who()}
        self.assertEqual(sessions["pop3s"]["user"], "bob")
        self.assertEqual(sessions["pop3s"]["tls"], tls.sock.version())
        self.assertEqual(sessions["pop3"]["user"], "")
        self.assertEqual(sessions["pop3"]["state"], "authorization")
        tls.cmd("QUIT")
        anon.cmd("QUIT")

    def test_kick_ends_the_session_and_keeps_deleted_mail(self):
        c = login(self.server.pop3, "alice")
        self.assertTrue(c.cmd("DELE 1").startswith(b"+OK"))
        rc, out, err = admin(self.env, "kick", "alice")
        self.assertEqual((rc, out.strip()), (0, "kicked 1 session"), err)
        # The client is told, then the connection ends.
        self.assertEqual(c.line(), b"-ERR [SYS/TEMP] Session ended by the administrator.")
        with self.assertRaises((EOFError, ConnectionError)):
            c.line()
        self.wait_log(r"event=disconnect peer=\S+ user=alice result=kicked")
        # Nothing was committed: all three messages are still there, and the
        # lock is gone, so the next login works at once.
        self.assertEqual(len(os.listdir(os.path.join(self.env.maildir("alice"), "new"))), 3)
        again = login(self.server.pop3, "alice")
        self.assertTrue(again.cmd("STAT").startswith(b"+OK 3 "))
        again.cmd("QUIT")
        self.assertEqual(self.who(), [])

    def test_kick_during_a_retr_lets_the_reply_finish_first(self):
        body = b"".join(b"line %07d of a big message\n" % i for i in range(300_000))  # ~8 MB
        self.env.deliver("bob", b"Subject: big\n\n" + body)
        # A small receive buffer: the server's send buffer (at most 4 MB)
        # cannot take the whole message, so its RETR is still being sent.
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.settimeout(20)
        raw.connect(("127.0.0.1", self.server.pop3))
        c = LineClient(sock=raw)
        self.assertTrue(c.cmd("USER bob").startswith(b"+OK"))
        self.assertTrue(c.cmd("PASS bob-secret").startswith(b"+OK"))
        c.send(b"RETR 1\r\n")
        time.sleep(0.5)  # the server is now blocked writing: the client reads nothing
        rc, out, err = admin(self.env, "kick", "bob")
        self.assertEqual(rc, 0, err)
        self.assertTrue(c.line().startswith(b"+OK"))
        lines = c.multiline()
        self.assertEqual(len(lines), 2 + 300_000)  # the whole message, unharmed
        self.assertEqual(c.line(), b"-ERR [SYS/TEMP] Session ended by the administrator.")
        with self.assertRaises((EOFError, ConnectionError)):
            c.line()
        self.assertEqual(len(os.listdir(os.path.join(self.env.maildir("bob"), "new"))), 1)

    def test_kick_a_session_by_id_only_that_one(self):
        a = login(self.server.pop3, "alice")
        b = login(self.server.pop3, "bob")
        ids = {s["user"]: s["id"] for s in self.who()}
        rc, out, err = admin(self.env, "kick", "--session", str(ids["bob"]))
        self.assertEqual(rc, 0, err)
        self.assertEqual(b.line(), b"-ERR [SYS/TEMP] Session ended by the administrator.")
        self.assertTrue(a.cmd("NOOP").startswith(b"+OK"))
        self.assertEqual([s["user"] for s in self.who()], ["alice"])
        a.cmd("QUIT")

    def test_kick_with_no_match_fails(self):
        rc, out, err = admin(self.env, "kick", "nobody-here")
        self.assertEqual(rc, 1)
        self.assertIn("no session matched", err)
        rc, out, err = admin(self.env, "kick", "--session", "999999")
        self.assertEqual(rc, 1)

    def test_a_user_outside_the_group_cannot_connect(self):
        rc, out, err = admin(self.env, "who", as_nobody=True)
        self.assertEqual(rc, EX_NOPERM, err)
        self.assertIn(self.sock, err)
        # The same user in the socket's group gets in.
        gid = os.lstat(self.sock).st_gid
        rc, out, err = admin(self.env, "who", as_nobody=True, groups=[gid])
        self.assertEqual(rc, 0, err)

    def test_no_server_means_unavailable_naming_the_socket(self):
        self.server.stop()
        rc, out, err = admin(self.env, "who")
        self.assertEqual(rc, EX_UNAVAILABLE, err)
        self.assertIn(self.sock, err)
        self.assertIn("[admin] socket", err)
        self.assertFalse(os.path.exists(self.sock))  # removed at shutdown


class AdminGroup(unittest.TestCase):
    def make_env(self, group):
        env = Env(users=dict(USERS))
        self.addCleanup(env.close)
        sock = os.path.join(env.dir, "admin.sock")
        with open(env.config, "a") as f:
            f.write(f'[admin]\nsocket = "{sock}"\ngroup = "{group}"\n')
        return env, sock

    def test_the_socket_belongs_to_the_admin_group(self):
        env, sock = self.make_env("mail")
        env.start()
        st = os.lstat(sock)
        self.assertEqual(st.st_gid, grp.getgrnam("mail").gr_gid)
        self.assertEqual(st.st_uid, pwd.getpwnam(TEST_USER).pw_uid)
        rc, out, err = admin(env, "who", as_nobody=True, groups=[grp.getgrnam("mail").gr_gid])
        self.assertEqual(rc, 0, err)

    def test_an_unknown_group_stops_the_start(self):
        env, sock = self.make_env("no-such-group-here")
        try:
            server = env.start()
        except RuntimeError as e:  # it may exit before the harness sees the ports
            self.assertIn("no-such-group-here", str(e))
            return
        self.assertNotEqual(server.proc.wait(20), 0)
        self.assertIn("[admin] group: no group 'no-such-group-here'", server.log_text())


class BadRequests(AdminBase):
    def test_garbage_huge_and_slow_requests_get_errors(self):
        for data in (b"hello\n", b"[1,2]\n", b'{"verb":"rm -rf"}\n', b'{"verb":"kick"}\n',
                     b'{"verb":"who","user":"x"}\n', b"\xff\xfe{\n", b""):
            reply = raw_request(self.sock, data)
            self.assertFalse(reply["ok"], data)
            self.assertIsInstance(reply["error"], str)
        reply = raw_request(self.sock, b"{" + b" " * 100_000 + b"}\n")
        self.assertEqual(reply, {"ok": False, "error": "request too long"})
        started = time.time()
        reply = raw_request(self.sock, b'{"verb":', shut=False)
        self.assertEqual(reply, {"ok": False, "error": "no complete request in time"})
        self.assertLess(time.time() - started, 15)
        # Still serving, both the admin socket and POP3.
        self.assertEqual(raw_request(self.sock, b'{"verb":"who"}\n'), {"ok": True, "sessions": []})
        c = login(self.server.pop3, "alice")
        c.cmd("QUIT")
        self.assertIn("event=admin_request uid=0", self.server.log_text())


class Mailboxes(AdminBase):
    def settle(self, user):
        """Dates new/ and cur/ back, so a login may trust and write
        popbox-snapshot (a directory changed within a second is dirty)."""
        for d in ("new", "cur"):
            path = os.path.join(self.env.maildir(user), d)
            os.makedirs(path, exist_ok=True)
            os.utime(path, (time.time() - 60, time.time() - 60))
        # The first login records UIDLs (ends adoption); the second one
        # writes popbox-snapshot.
        for _ in range(2):
            login(self.server.pop3, user).cmd("QUIT")

    def stat_json(self, user):
        rc, out, err = admin(self.env, "mailbox", "stat", user, "--json")
        self.assertEqual(rc, 0, err)
        return json.loads(out)

    def test_mailbox_stat_equals_what_stat_says(self):
        self.settle("alice")
        pop = poplib.POP3("127.0.0.1", self.server.pop3, timeout=20)
        pop.user("alice")
        pop.pass_("alice-secret")
        count, octets = pop.stat()
        pop.quit()
        j = self.stat_json("alice")
        self.assertEqual((j["messages"], j["octets"]), (count, octets))
        self.assertFalse(j["locked"])
        self.assertEqual(j["index"], "fresh")  # the login wrote popbox-snapshot
        oldest = min(int(n.split(".")[0])
                     for n in os.listdir(os.path.join(self.env.maildir("alice"), "new")))
        self.assertEqual(j["oldest"], oldest)
        rc, out, err = admin(self.env, "mailbox", "stat", "alice")
        self.assertEqual(rc, 0, err)
        self.assertIn(f"messages: {count}\n", out)
        self.assertIn(f"octets:   {octets}\n", out)
        self.env.deliver("alice", b"Subject: more\n\nmore\n")
        j = self.stat_json("alice")
        self.assertEqual((j["index"], j["messages"]), ("stale", count + 1))

    def test_mailbox_stat_of_a_held_maildrop_and_of_an_empty_one(self):
        self.settle("alice")
        c = login(self.server.pop3, "alice")
        j = self.stat_json("alice")
        self.assertTrue(j["locked"])
        self.assertTrue(j["from_snapshot"])
        self.assertEqual(j["messages"], 3)
        c.cmd("QUIT")
        j = self.stat_json("bob")
        self.assertEqual((j["messages"], j["octets"], j["index"], j["oldest"]), (0, 0, "none", None))
        self.assertFalse(os.path.exists(self.env.maildir("bob")))  # nothing created
        rc, out, err = admin(self.env, "mailbox", "stat", "carol")
        self.assertEqual(rc, 67, err)  # EX_NOUSER
        self.assertIn("unknown user", err)

    def test_expunge_dry_run_then_for_real(self):
        new = os.path.join(self.env.maildir("bob"), "new")
        old_by_name = self.env.deliver("bob", b"Subject: old\n\nold\n", name="1600000000.M1P1.old")
        old_by_mtime = self.env.deliver("bob", b"Subject: old2\n\nold2\n", name="no-stamp-old")
        fresh_by_mtime = self.env.deliver("bob", b"Subject: new2\n\nnew2\n", name="no-stamp-new")
        now = time.time()
        os.utime(fresh_by_mtime, (now, now))
        os.utime(old_by_mtime, (now - 200 * DAY, now - 200 * DAY))
        fresh = self.env.deliver("bob", b"Subject: new\n\nnew\n")  # named with the time now
        before = sorted(os.listdir(new))
        rc, out, err = admin(self.env, "expunge", "--user", "bob", "--older-than", "90d",
                             "--dry-run")
        self.assertEqual(rc, 0, err)
        self.assertIn("bob: would remove 2 messages, ", out)
        self.assertEqual(out.count(" octets, delivered "), 2)
        self.assertIn("2020-09-13", out)  # 1600000000
        self.assertEqual(sorted(os.listdir(new)), before)
        rc, out, err = admin(self.env, "expunge", "--user", "bob", "--older-than", "90d")
        self.assertEqual(rc, 0, err)
        self.assertIn("bob: removed 2 messages, ", out)
        left = set(os.listdir(new)) | set(os.listdir(os.path.join(self.env.maildir("bob"), "cur")))
        self.assertEqual({n.split(":")[0] for n in left},
                         {os.path.basename(fresh), os.path.basename(fresh_by_mtime)})
        self.assertFalse(os.path.exists(old_by_name))
        self.assertRegex(self.server.log_text(), r"event=expunge user=bob removed=2 .*dry_run=no")

    def test_expunge_all_skips_a_maildrop_in_use(self):
        self.env.deliver("bob", b"Subject: old\n\nold\n", name="1600000000.M2P2.old")
        alice_old = self.env.deliver("alice", b"Subject: a\n\na\n", name="1600000001.M3P3.old")
        c = login(self.server.pop3, "alice")  # holds alice's maildrop
        started = time.time()
        rc, out, err = admin(self.env, "expunge", "--all", "--older-than", "4w")
        self.assertLess(time.time() - started, 20)  # not waited for
        self.assertEqual(rc, EX_TEMPFAIL, err)
        self.assertIn("alice: skipped (in use)", out)
        self.assertIn("bob: removed 1 messages", out)
        self.assertTrue(os.path.exists(alice_old))
        c.cmd("QUIT")

    def test_expunge_needs_a_valid_age(self):
        rc, out, err = admin(self.env, "expunge", "--user", "bob", "--older-than", "soon")
        self.assertEqual(rc, 64, err)  # EX_USAGE
        rc, out, err = admin(self.env, "expunge", "--older-than", "9d")
        self.assertEqual(rc, 64, err)


class Reload(AdminBase):
    def test_reload_prints_results_and_lets_a_new_user_in(self):
        with open(self.env.passwd, "a") as f:
            f.write("carol:{PLAIN}carol-secret::::::\n")
        rc, out, err = admin(self.env, "reload")
        self.assertEqual(rc, 0, err)
        self.assertIn("users: ok\n", out)
        self.assertIn("tls: ok\n", out)
        c = LineClient(self.server.pop3)
        self.assertTrue(c.cmd("USER carol").startswith(b"+OK"))
        self.assertTrue(c.cmd("PASS carol-secret").startswith(b"+OK"))
        c.cmd("QUIT")
        self.assertIn("event=reload what=users result=ok", self.server.log_text())

    def test_a_failed_reload_says_what_failed(self):
        os.rename(self.env.key, self.env.key + ".gone")
        rc, out, err = admin(self.env, "reload")
        self.assertNotEqual(rc, 0)
        self.assertIn("users: ok\n", out)
        self.assertRegex(out, r"tls: failed \(.*\); the previous one stays in use")
        # The old certificate still serves.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", self.server.pop3s), timeout=20)
        tls = LineClient(sock=ctx.wrap_socket(raw))
        self.assertTrue(tls.greeting.startswith(b"+OK"))
        tls.cmd("QUIT")


if __name__ == "__main__":
    run_tests()
