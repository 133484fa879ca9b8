"""Maildrop locks without a descriptor per session (issue 8): `popbox serve`
keeps every lock in one lock file, an idle logged-in session costs the
server its socket and nothing else, the CLI verbs honour the server's
locks, and a killed server's locks are gone at once."""

import os
import shutil
import tempfile
import pwd
import signal
import stat
import subprocess
import unittest

from harness import POPBOX, TEST_USER, Env, LineClient, run_tests

USERS = {f"user{i}": f"secret-{i}" for i in range(12)}


def fds_of(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def login(port, user):
    c = LineClient(port)
    assert c.cmd(f"USER {user}").startswith(b"+OK")
    reply = c.cmd(f"PASS {USERS[user]}")
    return c, reply


class StoreLocks(unittest.TestCase):
    def setUp(self):
        # Its own lock file (not the host-wide default, which servers of
        # other tests share), so ownership and descriptors are this one's.
        self.lock_dir = tempfile.mkdtemp(prefix="popbox-locks-")
        self.env = Env(users=USERS, mail_extra=f'lock_file = "{self.lock_file()}"\n')
        for i, user in enumerate(USERS):
            self.env.deliver(user, f"Subject: {i}\n\nbody {i}\n".encode())
        self.server = self.env.start()

    def tearDown(self):
        self.env.close()
        shutil.rmtree(self.lock_dir, ignore_errors=True)

    def lock_file(self):
        return os.path.join(self.lock_dir, "maildrop.lock")

    def test_lock_file_is_private_to_the_service_user(self):
        c, reply = login(self.server.pop3, "user0")
        self.assertTrue(reply.startswith(b"+OK"), reply)
        st = os.lstat(self.lock_file())
        self.assertTrue(stat.S_ISREG(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, pwd.getpwnam(TEST_USER).pw_uid)
        self.assertNotIn("maildrop_lock_fallback", self.server.log_text())
        c.cmd("QUIT")

    def test_idle_sessions_hold_only_their_socket(self):
        pid = self.server.proc.pid
        warm, reply = login(self.server.pop3, "user0")  # threads, pools, lock file up
        self.assertTrue(reply.startswith(b"+OK"), reply)
        self.assertTrue(warm.cmd("STAT").startswith(b"+OK 1 "))
        before = fds_of(pid)
        sessions = []
        for user in list(USERS)[1:]:
            c, reply = login(self.server.pop3, user)
            self.assertTrue(reply.startswith(b"+OK"), reply)
            sessions.append(c)
        self.assertEqual(fds_of(pid) - before, len(sessions))
        # Still usable: RETR re-opens the Maildir, QUIT commits.
        self.assertTrue(sessions[0].cmd("RETR 1").startswith(b"+OK"))
        self.assertIn(b"body 1", sessions[0].multiline())
        self.assertTrue(sessions[0].cmd("DELE 1").startswith(b"+OK"))
        self.assertTrue(sessions[0].cmd("QUIT").startswith(b"+OK"))
        self.assertEqual(os.listdir(os.path.join(self.env.maildir("user1"), "new")), [])
        # A second session of a held maildrop is refused.
        c, reply = login(self.server.pop3, "user2")
        self.assertTrue(reply.startswith(b"-ERR [IN-USE]"), reply)
        for s in sessions[1:]:
            s.cmd("QUIT")
        warm.cmd("QUIT")

    def test_cli_honours_the_server_lock_and_a_kill_releases_it(self):
        c, reply = login(self.server.pop3, "user3")
        self.assertTrue(reply.startswith(b"+OK"), reply)
        run = lambda: subprocess.run(  # noqa: E731
            [POPBOX, "uidl", "import", "--config", self.env.config, "--user", "user3",
             "--dry-run"], capture_output=True, text=True, timeout=60)
        held = run()
        self.assertEqual(held.returncode, 75, held.stdout + held.stderr)
        self.assertIn("skipped=in-use", held.stdout)
        self.server.stop(signal.SIGKILL)
        free = run()
        self.assertEqual(free.returncode, 0, free.stdout + free.stderr)


class DefaultLockFile(unittest.TestCase):
    """With the default lock_file every popbox process on the host locks in
    one file, whatever config it runs with: a CLI verb started with a copy
    of the config in another directory still sees the server's session."""

    def setUp(self):
        self.env = Env(users=USERS)
        self.env.deliver("user0", b"Subject: 0\n\nbody\n")
        self.server = self.env.start()
        self.elsewhere = tempfile.mkdtemp(prefix="popbox-other-config-")

    def tearDown(self):
        self.env.close()
        shutil.rmtree(self.elsewhere, ignore_errors=True)

    def test_a_copy_of_the_config_elsewhere_is_refused(self):
        config = shutil.copy(self.env.config, self.elsewhere)
        c, reply = login(self.server.pop3, "user0")
        self.assertTrue(reply.startswith(b"+OK"), reply)
        r = subprocess.run([POPBOX, "uidl", "import", "--config", config, "--user", "user0",
                            "--dry-run"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 75, r.stdout + r.stderr)
        self.assertIn("skipped=in-use", r.stdout)
        c.cmd("QUIT")


if __name__ == "__main__":
    run_tests()
