"""The verified-credentials cache ([auth] cache_ttl, cache_size): a repeat
login with the same password is answered from it (the login log line says
auth=cache); a wrong password is checked in full and drops the user's entry;
a changed passwd-file (SIGHUP, or an edit noticed on disk) makes the old
password fail; cache_ttl = "0" turns it off; failed-login penalties and
blocks apply to cached logins as to any other; APOP never uses it."""

import base64
import hashlib
import re
import signal
import socket
import time
import unittest

import harness

AUTH_FAILED = b"-ERR [AUTH] Authentication failed.\r\n"


def read_line(s):
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = s.recv(1)
        if not chunk:
            break
        data += chunk
    return data


class Client:
    """One POP3 connection from `source`, every read bounded by a timeout."""

    def __init__(self, port, source="127.0.0.1"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20,
                                             source_address=(source, 0))
        self.greeting = read_line(self.sock)
        assert self.greeting.startswith(b"+OK"), self.greeting

    def cmd(self, line):
        self.sock.sendall(line + b"\r\n")
        return read_line(self.sock)

    def close(self):
        try:
            self.cmd(b"QUIT")
        except OSError:
            pass
        self.sock.close()


class CacheTest(unittest.TestCase):
    env_args = {}
    auth_keys = ""  # written into the [auth] section

    def setUp(self):
        args = {"failure_delay": "50ms"}
        args.update(self.env_args)
        self.env = harness.Env(**args)
        with open(self.env.config) as f:
            text = f.read()
        with open(self.env.config, "w") as f:
            f.write(text.replace("[auth]\n", "[auth]\n" + self.auth_keys, 1))
        self.env.deliver("alice", b"Subject: hi\n\nhello\n")
        self.server = self.env.start()

    def tearDown(self):
        self.env.close()

    def login_lines(self, user):
        return [l for l in self.server.log_text().splitlines()
                if "event=login" in l and f" user={user} " in l]

    def login(self, user, password, source="127.0.0.1", method="pass"):
        """(seconds from the credentials to the answer, the answer, the
        login's log line); the session ends with QUIT."""
        before = len(self.login_lines(user))
        c = Client(self.server.pop3, source)
        try:
            if method == "pass":
                self.assertTrue(c.cmd(b"USER " + user.encode()).startswith(b"+OK"))
                start = time.monotonic()
                answer = c.cmd(b"PASS " + password.encode())
            elif method == "plain":
                blob = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
                start = time.monotonic()
                answer = c.cmd(b"AUTH PLAIN " + blob)
            else:  # apop
                stamp = re.search(rb"<[^>]+>", c.greeting).group(0)
                digest = hashlib.md5(stamp + password.encode()).hexdigest().encode()
                start = time.monotonic()
                answer = c.cmd(b"APOP " + user.encode() + b" " + digest)
            wait = time.monotonic() - start
            if answer.startswith(b"+OK"):
                self.assertTrue(c.cmd(b"STAT").startswith(b"+OK"))
        finally:
            c.close()
        deadline = time.time() + 10
        while time.time() < deadline:
            lines = self.login_lines(user)
            if len(lines) > before:
                self.assertEqual(len(lines), before + 1, lines)
                return wait, answer, lines[-1]
            time.sleep(0.02)
        self.fail("no event=login line:\n" + self.server.log_text())

    def assert_cached(self, line):
        self.assertIn("result=ok", line)
        self.assertTrue(line.endswith(" auth=cache"), line)

    def assert_hashed(self, line):
        self.assertNotIn("auth=cache", line)

    def write_password(self, user, password):
        with open(self.env.passwd) as f:
            lines = [l for l in f if not l.startswith(user + ":")]
        lines.append(f"{user}:{{PLAIN}}{password}::::::\n")
        with open(self.env.passwd, "w") as f:
            f.writelines(lines)

    def sighup(self):
        count = self.server.log_text().count("what=users result=ok")
        self.server.kill(signal.SIGHUP)
        deadline = time.time() + 10
        while self.server.log_text().count("what=users result=ok") == count:
            self.assertLess(time.time(), deadline, "no reload")
            time.sleep(0.02)


class Cache(CacheTest):
    def test_second_login_with_the_same_password_comes_from_the_cache(self):
        _, answer, line = self.login("alice", "alice-secret")
        self.assertTrue(answer.startswith(b"+OK"), answer)
        self.assert_hashed(line)
        for _ in range(2):
            _, answer, line = self.login("alice", "alice-secret")
            self.assertEqual(answer, b"+OK Logged in, 1 messages (22 octets).\r\n")
            self.assert_cached(line)
        # SASL PLAIN carries the same password: the same entry answers it.
        _, answer, line = self.login("alice", "alice-secret", method="plain")
        self.assertTrue(answer.startswith(b"+OK"), answer)
        self.assert_cached(line)
        # Another user is checked in full the first time.
        _, answer, line = self.login("bob@example.com", "bob secret")
        self.assertTrue(answer.startswith(b"+OK"), answer)
        self.assert_hashed(line)

    def test_wrong_password_after_a_cached_login_fails_and_drops_the_entry(self):
        self.login("alice", "alice-secret")
        self.assert_cached(self.login("alice", "alice-secret")[2])
        wait, answer, line = self.login("alice", "alice-secret-")
        self.assertEqual(answer, AUTH_FAILED)
        self.assertIn("result=bad_credentials", line)
        self.assert_hashed(line)
        # The right password is checked in full again, then cached again.
        _, answer, line = self.login("alice", "alice-secret")
        self.assertTrue(answer.startswith(b"+OK"), answer)
        self.assert_hashed(line)
        self.assert_cached(self.login("alice", "alice-secret")[2])

    def test_changed_password_and_sighup_makes_the_old_password_fail_at_once(self):
        self.login("alice", "alice-secret")
        self.assert_cached(self.login("alice", "alice-secret")[2])
        self.write_password("alice", "new-secret")
        self.sighup()
        _, answer, line = self.login("alice", "alice-secret")
        self.assertEqual(answer, AUTH_FAILED)
        self.assert_hashed(line)
        _, answer, line = self.login("alice", "new-secret")
        self.assertTrue(answer.startswith(b"+OK"), answer)
        self.assert_hashed(line)
        self.assert_cached(self.login("alice", "new-secret")[2])

    def test_sighup_drops_the_cache_even_when_nothing_changed(self):
        self.login("alice", "alice-secret")
        self.sighup()
        _, answer, line = self.login("alice", "alice-secret")
        self.assertTrue(answer.startswith(b"+OK"), answer)
        self.assert_hashed(line)

    def test_passwd_file_edited_without_sighup_is_noticed_within_seconds(self):
        self.login("alice", "alice-secret")
        self.assert_cached(self.login("alice", "alice-secret")[2])
        self.write_password("alice", "edited-secret")
        # The users in memory are compared with the file at most once a
        # second; after that the old password must fail, cache or not.
        time.sleep(1.5)
        _, answer, line = self.login("alice", "alice-secret")
        self.assertEqual(answer, AUTH_FAILED)
        _, answer, _ = self.login("alice", "edited-secret")
        self.assertTrue(answer.startswith(b"+OK"), answer)

    def test_unknown_user_is_never_cached(self):
        for _ in range(2):
            _, answer, line = self.login("nosuchuser", "alice-secret")
            self.assertEqual(answer, AUTH_FAILED)
            self.assert_hashed(line)


class CacheTtlZero(CacheTest):
    auth_keys = 'cache_ttl = "0"\n'

    def test_cache_ttl_zero_never_caches(self):
        for _ in range(3):
            _, answer, line = self.login("alice", "alice-secret")
            self.assertTrue(answer.startswith(b"+OK"), answer)
            self.assert_hashed(line)


class CacheSizeZero(CacheTtlZero):
    auth_keys = "cache_size = 0\n"


class CacheSizeOne(CacheTest):
    auth_keys = 'cache_size = 1\ncache_ttl = "10m"\n'

    def test_least_recently_used_user_goes_first(self):
        self.login("alice", "alice-secret")
        self.assert_cached(self.login("alice", "alice-secret")[2])
        self.login("bob@example.com", "bob secret")  # takes the only place
        self.assert_hashed(self.login("alice", "alice-secret")[2])


class Penalties(CacheTest):
    env_args = {"failure_delay": "200ms",
                "extra_sections": "[limits]\nauth_failures_per_ip = 4\n"}

    def test_cached_password_from_a_penalised_address_still_waits_and_a_blocked_one_is_refused(
            self):
        self.login("alice", "alice-secret", "127.0.0.2")  # cached from another address
        wait, answer, line = self.login("alice", "alice-secret", "127.0.0.2")
        self.assert_cached(line)
        # Three failures from 127.0.0.1, with other names (alice keeps her entry).
        for _ in range(3):
            self.assertEqual(self.login("nosuchuser", "guess")[1], AUTH_FAILED)
        wait, answer, line = self.login("alice", "alice-secret")
        self.assertTrue(answer.startswith(b"+OK"), answer)
        self.assert_cached(line)
        # 200, 400, 800 ms: the right password waits as long as the third failure.
        self.assertGreaterEqual(wait, 0.8 * 0.9)
        # The fourth failure blocks the address: refused without a check,
        # the cached password too.
        self.assertEqual(self.login("nosuchuser", "guess")[1], AUTH_FAILED)
        wait, answer, line = self.login("alice", "alice-secret")
        self.assertTrue(answer.startswith(b"-ERR [SYS/TEMP]"), answer)
        self.assertIn("too many failed logins", line)
        self.assert_hashed(line)
        # Another address is neither slowed nor refused.
        wait, answer, line = self.login("alice", "alice-secret", "127.0.0.2")
        self.assertTrue(answer.startswith(b"+OK"), answer)
        self.assert_cached(line)
        self.assertLess(wait, 0.5)


class Apop(CacheTest):
    env_args = {"apop": True}

    def test_apop_never_uses_the_cache(self):
        self.login("alice", "alice-secret")
        self.assert_cached(self.login("alice", "alice-secret")[2])
        for _ in range(2):
            _, answer, line = self.login("alice", "alice-secret", method="apop")
            self.assertTrue(answer.startswith(b"+OK"), answer)
            self.assert_hashed(line)
        # A wrong APOP digest fails like any login, but it is not a password
        # check: the entry stays.
        self.assertEqual(self.login("alice", "wrong", method="apop")[1], AUTH_FAILED)
        self.assert_cached(self.login("alice", "alice-secret")[2])


if __name__ == "__main__":
    harness.run_tests()
