"""popbox serve on the wire: pipelining, STLS injection, limits, timeouts,
locks after kill -9, SASL, APOP, reload, plaintext policy and shutdown."""

import base64
import hashlib
import os
import re
import signal
import socket
import ssl
import subprocess
import time
import unittest

from harness import CLUSTER, POPBOX, Env, LineClient, run_tests


class Conn(LineClient):
    """A raw POP3 connection that reads exactly what the server sends."""

    def __init__(self, port, timeout=10):
        super().__init__(port, timeout=timeout)

    def closed(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return True

    def login(self, user="alice", pw="alice-secret"):
        assert self.cmd(f"USER {user}").startswith(b"+OK")
        reply = self.cmd(f"PASS {pw}")
        assert reply.startswith(b"+OK"), reply
        return reply


class ProtocolTest(unittest.TestCase):
    env_args = {}

    def setUp(self):
        self.env = Env(**self.env_args)
        for i in range(3):
            self.env.deliver("alice", f"Subject: {i}\n\nbody {i}\n".encode())
        self.server = self.env.start()

    def tearDown(self):
        self.env.close()

    def disconnect_line(self, user="-"):
        """The event=disconnect log line of the one session that ended (bounded wait)."""
        deadline = time.time() + 10
        while time.time() < deadline:
            lines = [l for l in self.server.log_text().splitlines()
                     if "event=disconnect" in l and f" user={user} " in l]
            if lines:
                self.assertEqual(len(lines), 1, lines)
                return lines[0]
            time.sleep(0.05)
        self.fail("no event=disconnect line:\n" + self.server.log_text())

    def test_pipelined_commands_answered_in_order(self):
        c = Conn(self.server.pop3)
        c.send(b"USER alice\r\nPASS alice-secret\r\nSTAT\r\nLIST 2\r\nUIDL 3\r\nNOOP\r\n"
               b"RETR 1\r\nDELE 1\r\nSTAT\r\nQUIT\r\n")
        self.assertEqual(c.line(), b"+OK")
        self.assertTrue(c.line().startswith(b"+OK Logged in"))
        self.assertEqual(c.line(), b"+OK 3 66")
        self.assertEqual(c.line(), b"+OK 2 22")
        self.assertTrue(c.line().startswith(b"+OK 3 "))
        self.assertEqual(c.line(), b"+OK")
        self.assertEqual(c.line(), b"+OK 22 octets")
        self.assertEqual(c.multiline(), [b"Subject: 0", b"", b"body 0"])
        self.assertEqual(c.line(), b"+OK Marked to be deleted.")
        self.assertEqual(c.line(), b"+OK 2 44")
        self.assertEqual(c.line(), b"+OK Logging out.")
        self.assertTrue(c.closed())

    def test_commands_are_case_insensitive(self):
        c = Conn(self.server.pop3)
        self.assertEqual(c.cmd("user alice"), b"+OK")
        self.assertTrue(c.cmd("pAsS alice-secret").startswith(b"+OK"))
        self.assertEqual(c.cmd("stat"), b"+OK 3 66")

    def test_stls_discards_injected_plaintext(self):
        c = Conn(self.server.pop3)
        # The classic injection: a command in the same packet as STLS.
        c.send(b"STLS\r\nUSER evil\r\n")
        self.assertTrue(c.line().startswith(b"+OK"))
        ctx = ssl.create_default_context(cafile=self.env.cert)
        ctx.check_hostname = False
        tls = ctx.wrap_socket(c.sock, server_hostname="pop.test")
        tls.sendall(b"PASS alice-secret\r\n")
        reply = tls.recv(4096)
        self.assertTrue(reply.startswith(b"-ERR No user name given"), reply)
        tls.sendall(b"CAPA\r\n")
        time.sleep(0.2)
        capa = tls.recv(4096)
        self.assertNotIn(b"STLS", capa)

    @unittest.skipIf(CLUSTER, "the node closes with the overlong line unread, so its RST can reach HAProxy before the reply does")
    def test_overlong_line_gets_error_and_close(self):
        c = Conn(self.server.pop3)
        c.send(b"USER " + b"a" * 100000 + b"\r\n")
        self.assertEqual(c.line(), b"-ERR Line too long.")
        self.assertTrue(c.closed())
        self.assertRegex(self.disconnect_line(), r" result=line_too_long ")
        # The server is still there.
        Conn(self.server.pop3).login()

    def test_too_many_bad_commands_close(self):
        c = Conn(self.server.pop3)
        for _ in range(9):
            self.assertEqual(c.cmd("XYZZY"), b"-ERR Unknown command.")
        self.assertTrue(c.cmd("XYZZY").startswith(b"-ERR Too many bad commands"))
        self.assertTrue(c.closed())
        self.assertRegex(self.disconnect_line(), r" result=too_many_errors .* bad_commands=10 ")

    def test_too_many_failed_logins_close_and_say_so_in_the_log(self):
        c = Conn(self.server.pop3)
        for i in range(3):
            self.assertTrue(c.cmd("USER alice").startswith(b"+OK"))
            reply = c.cmd("PASS wrong")
            if i < 2:
                self.assertEqual(reply, b"-ERR [AUTH] Authentication failed.")
        self.assertEqual(reply, b"-ERR [AUTH] Authentication failed, too many attempts.")
        # Closed by the server at once, not at the client's next line.
        self.assertEqual(c.sock.recv(1), b"")
        self.assertRegex(self.disconnect_line(),
                         r" result=auth_failures .* auth_failures=3 ")

    def test_bad_arguments(self):
        c = Conn(self.server.pop3)
        c.login()
        for cmd in ("RETR", "RETR x", "RETR -1", "LIST 1 2", "TOP 1", "TOP 1 x", "DELE"):
            self.assertTrue(c.cmd(cmd).startswith(b"-ERR"), cmd)
        self.assertEqual(c.cmd("RETR 9"), b"-ERR There's no message 9.")

    def test_sasl_plain_login_and_cancel(self):
        c = Conn(self.server.pop3)
        self.assertEqual(c.cmd("AUTH PLAIN"), b"+ ")
        self.assertEqual(c.cmd("*"), b"-ERR Authentication cancelled.")
        self.assertEqual(c.cmd("AUTH LOGIN"), b"+ VXNlcm5hbWU6")
        self.assertEqual(c.cmd("@@@"), b"-ERR Invalid base64 data.")
        token = base64.b64encode(b"\0alice\0alice-secret").decode()
        self.assertTrue(c.cmd(f"AUTH PLAIN {token}").startswith(b"+OK Logged in"))
        d = Conn(self.server.pop3)
        self.assertEqual(d.cmd("AUTH LOGIN"), b"+ VXNlcm5hbWU6")
        self.assertEqual(d.cmd(base64.b64encode(b"alice").decode()), b"+ UGFzc3dvcmQ6")
        self.assertTrue(d.cmd(base64.b64encode(b"alice-secret").decode()).startswith(b"-ERR [IN-USE]"))

    @unittest.skipIf(CLUSTER, "breaks a Maildir; the cluster's mail is in PostgreSQL")
    def test_unusable_maildrop_says_sys_perm(self):
        md = os.path.dirname(self.env.maildir("bob@example.com"))
        os.makedirs(os.path.dirname(md), exist_ok=True)
        with open(md, "w") as f:
            f.write("a file where the user's directory should be")
        c = Conn(self.server.pop3)
        c.cmd("USER bob@example.com")
        self.assertTrue(c.cmd("PASS bob secret").startswith(b"-ERR [SYS/PERM]"))

    def test_user_names_are_lowercased_like_dovecot(self):
        c = Conn(self.server.pop3)
        c.login("ALICE", "alice-secret")  # auth_username_format = %Lu
        self.assertEqual(c.cmd("STAT"), b"+OK 3 66")

    def test_failed_login_says_auth(self):
        c = Conn(self.server.pop3)
        c.cmd("USER alice")
        self.assertEqual(c.cmd("PASS nope"), b"-ERR [AUTH] Authentication failed.")

    def test_quit_in_authorization(self):
        c = Conn(self.server.pop3)
        self.assertEqual(c.cmd("QUIT"), b"+OK Logging out.")
        self.assertTrue(c.closed())
        self.assertRegex(self.disconnect_line(), r" result=quit ")

    @unittest.skipIf(CLUSTER, "restarts the one server; test_cluster.py kills a node")
    def test_lock_is_gone_after_kill_9(self):
        c = Conn(self.server.pop3)
        c.login()
        self.server.stop(signal.SIGKILL)
        self.server = self.env.start()
        Conn(self.server.pop3).login()

    @unittest.skipIf(CLUSTER, "restarts the one server; test_cluster.py kills a node")
    def test_sigterm_mid_session_deletes_nothing(self):
        c = Conn(self.server.pop3)
        c.login()
        c.cmd("DELE 1")
        self.assertEqual(self.server.stop(signal.SIGTERM), 0)
        self.server = self.env.start()
        d = Conn(self.server.pop3)
        d.login()
        self.assertEqual(d.cmd("STAT"), b"+OK 3 66")

    def test_sighup_reloads_users(self):
        with open(self.env.passwd, "a") as f:
            f.write("carol:{PLAIN}carol-pw::::::\n")
        self.server.kill(signal.SIGHUP)
        deadline = time.time() + 5
        while "what=users result=ok" not in self.server.log_text() and time.time() < deadline:
            time.sleep(0.05)
        c = Conn(self.server.pop3)
        c.login("carol", "carol-pw")
        self.assertEqual(c.cmd("STAT"), b"+OK 0 0")

    def test_log_has_one_line_per_session_event(self):
        c = Conn(self.server.pop3)
        c.login()
        c.cmd("RETR 1")
        c.multiline()
        c.cmd("QUIT")
        time.sleep(0.2)
        log = self.server.log_text()
        self.assertRegex(log, r"event=login user=alice result=ok")
        self.assertRegex(log, r"event=disconnect peer=127\.0\.0\.1:\d+ user=alice result=quit "
                              r"commands=4 .*retr=1 retr_bytes=22")
        self.assertNotIn("alice-secret", log)


class IdleTimeoutTest(unittest.TestCase):
    def test_idle_client_is_logged_out_without_deleting(self):
        env = Env(idle_timeout="1s")
        try:
            env.deliver("alice", b"Subject: x\n\nx\n")
            server = env.start()
            c = Conn(server.pop3)
            c.login()
            c.cmd("DELE 1")
            time.sleep(1.6)
            self.assertTrue(c.closed())
            time.sleep(0.2)  # the lock goes right after the socket
            d = Conn(server.pop3)
            d.login()
            self.assertEqual(d.cmd("STAT"), b"+OK 1 17")
            self.assertIn("result=timeout", server.log_text())
        finally:
            env.close()


class PolicyTest(unittest.TestCase):
    def test_plaintext_never_refuses_until_stls(self):
        env = Env(allow_plaintext="never")
        try:
            server = env.start()
            c = Conn(server.pop3)
            self.assertEqual(c.cmd("USER alice"), b"-ERR [AUTH] Plaintext authentication "
                             b"disallowed on non-secure (SSL/TLS) connections.")
            self.assertTrue(c.cmd("AUTH PLAIN").startswith(b"-ERR [AUTH] Plaintext"))
        finally:
            env.close()

    def test_apop(self):
        env = Env(apop=True)
        try:
            env.deliver("alice", b"Subject: x\n\nx\n")
            server = env.start()
            c = Conn(server.pop3)
            stamp = re.search(rb"<[^>]+>", c.greeting).group(0)
            digest = hashlib.md5(stamp + b"alice-secret").hexdigest()
            self.assertTrue(c.cmd(f"APOP alice {digest}").startswith(b"+OK Logged in"))
            d = Conn(server.pop3)
            self.assertTrue(d.cmd("APOP bob@example.com " + "0" * 32).startswith(b"-ERR [AUTH]"))
        finally:
            env.close()

    @unittest.skipIf(CLUSTER, "each node remembers login times itself; looks at the Maildir")
    def test_login_delay_and_expire_capabilities(self):
        env = Env(extra_server='login_delay = "1h"\nexpire_days = 0')
        try:
            env.deliver("alice", b"Subject: x\n\nx\n")
            server = env.start()
            c = Conn(server.pop3)
            c.send(b"CAPA\r\n")
            c.line()
            caps = c.multiline()
            self.assertIn(b"LOGIN-DELAY 3600", caps)
            self.assertIn(b"EXPIRE 0", caps)
            c.login()
            c.cmd("RETR 1")
            c.multiline()
            c.cmd("QUIT")
            d = Conn(server.pop3)
            d.cmd("USER alice")
            self.assertTrue(d.cmd("PASS alice-secret").startswith(b"-ERR [LOGIN-DELAY]"))
            # EXPIRE 0: the retrieved message is gone.
            md = env.maildir("alice")
            self.assertEqual(os.listdir(os.path.join(md, "cur")) + os.listdir(os.path.join(md, "new")), [])
        finally:
            env.close()


class OperationTest(unittest.TestCase):
    def test_sighup_reloads_certificate_without_dropping_sessions(self):
        env = Env()
        try:
            server = env.start()
            c = Conn(server.pop3)
            c.login()

            def served_cert():
                raw = ssl.create_connection(("127.0.0.1", server.pop3s), timeout=5)
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                with ctx.wrap_socket(raw) as tls:
                    return tls.getpeercert(binary_form=True)

            before = served_cert()
            from harness import make_cert
            make_cert(env.cert, env.key, cn="renewed.test")
            server.kill(signal.SIGHUP)
            deadline = time.time() + 5
            while "what=tls result=ok" not in server.log_text() and time.time() < deadline:
                time.sleep(0.05)
            self.assertNotEqual(served_cert(), before)
            self.assertEqual(c.cmd("STAT"), b"+OK 0 0")  # the old session lives on
        finally:
            env.close()

    @unittest.skipIf(CLUSTER, "max_connections is per node")
    def test_max_connections(self):
        env = Env(extra_server="max_connections = 2")
        try:
            server = env.start()
            a, b = Conn(server.pop3), Conn(server.pop3)
            c = socket.create_connection(("127.0.0.1", server.pop3), timeout=5)
            self.assertTrue(c.recv(200).startswith(b"-ERR [SYS/TEMP] Too many connections"))
            a.cmd("QUIT")
            time.sleep(0.2)
            Conn(server.pop3).cmd("QUIT")
            b.cmd("QUIT")
        finally:
            env.close()

    def test_user_verb_adds_argon2id_user_who_can_log_in(self):
        env = Env()
        try:
            add = subprocess.run([POPBOX, "user", "add", "dave", "--file", env.passwd,
                                  "--password-stdin"], input=b"dave pw\n", capture_output=True)
            self.assertEqual(add.returncode, 0, add.stderr)
            with open(env.passwd) as f:
                self.assertIn("dave:{ARGON2ID}$argon2id$", f.read())
            listed = subprocess.run([POPBOX, "user", "list", "--file", env.passwd],
                                    capture_output=True, text=True)
            self.assertEqual(listed.stdout.split(), ["alice", "bob@example.com", "dave"])
            server = env.start()
            Conn(server.pop3).login("dave", "dave pw")
            dup = subprocess.run([POPBOX, "user", "add", "dave", "--file", env.passwd,
                                  "--password-stdin"], input=b"x\n", capture_output=True)
            self.assertEqual(dup.returncode, 65)  # EX_DATAERR
        finally:
            env.close()


class CheckTest(unittest.TestCase):
    def test_check_accepts_good_and_names_bad_config(self):
        env = Env()
        try:
            ok = subprocess.run([POPBOX, "check", "--config", env.config], capture_output=True)
            self.assertEqual(ok.returncode, 0, ok.stderr)
            with open(env.config, "a") as f:
                f.write("[bogus]\n")
            bad = subprocess.run([POPBOX, "check", "--config", env.config], capture_output=True)
            self.assertEqual(bad.returncode, 78)  # EX_CONFIG
            self.assertIn(b"unknown key 'bogus'", bad.stderr)
            serve = subprocess.run([POPBOX, "serve", "--config", env.config], capture_output=True,
                                   timeout=10)
            self.assertEqual(serve.returncode, 78)
        finally:
            env.close()


@unittest.skipIf(CLUSTER, "reads the one server's log file after stopping it")
class LogEscapeTest(unittest.TestCase):
    """What a client sends reaches the serve log only through
    core::log_escape: SASL user names, mechanism names, LMTP addresses.
    No raw control or 8-bit byte, no quote or '=' that could fake a field."""

    def setUp(self):
        self.env = Env(extra_sections='[lmtp]\nlisten = ["127.0.0.1:0"]\n')
        self.server = self.env.start()

    def tearDown(self):
        self.env.close()

    def test_sasl_names_mechanisms_and_lmtp_addresses_are_escaped(self):
        name = b'a\xffb"x=1'
        c = Conn(self.server.pop3)
        c.send(b"AUTH PLAIN " + base64.b64encode(b"\0" + name + b"\0pw") + b"\r\n")
        self.assertEqual(c.line(), b"-ERR [AUTH] Authentication failed.")
        c.send(b"AUTH \x1b[31m\xff\"result=ok\r\n")
        self.assertTrue(c.line().startswith(b"-ERR"))
        self.assertEqual(c.cmd("AUTH LOGIN"), b"+ VXNlcm5hbWU6")
        c.send(base64.b64encode(name + b"2") + b"\r\n")
        self.assertEqual(c.line(), b"+ UGFzc3dvcmQ6")
        c.send(base64.b64encode(b"pw") + b"\r\n")
        self.assertTrue(c.line().startswith(b"-ERR [AUTH] Authentication failed"))
        c.send(b"QUIT\r\n")
        c.line()
        # LMTP: control bytes are refused as syntax before any log line;
        # 8-bit bytes, quotes and '=' reach it escaped.
        r = socket.create_connection(("127.0.0.1", self.server.lmtp), timeout=10)
        f = r.makefile("rb")
        self.assertTrue(f.readline().startswith(b"220 "))
        r.sendall(b"LHLO \x1b[2J\xff\r\nMAIL FROM:<s\x1b]0;x\x07@x>\r\n"
                  b'MAIL FROM:<s\xff"=@x>\r\nRCPT TO:<n\x1b[31m@x>\r\n'
                  b'RCPT TO:<n\xff"o=1@x>\r\nQUIT\r\n')
        replies = []
        while len(replies) < 20 and not (replies and replies[-1].startswith(b"221 ")):
            replies.append(f.readline())
        self.assertEqual([l[:4] for l in replies if not l.startswith(b"250-")],
                         [b"250 ", b"501 ", b"250 ", b"501 ", b"550 ", b"221 "])
        r.close()
        self.server.stop()
        with open(self.server.log_path, "rb") as lf:
            log = lf.read()
        for raw in (b"\x1b", b"\x07", b"\xff", b'"x=1', b'"result=ok', b'"o=1'):
            self.assertNotIn(raw, log)
        logins = [l for l in log.splitlines() if b" event=login " in l]
        self.assertEqual(len(logins), 2, logins)
        self.assertIn(rb" user=a\xffb\x22x\x3d1 result=bad_credentials", logins[0])
        self.assertIn(rb" user=a\xffb\x22x\x3d12 result=bad_credentials", logins[1])
        self.assertIn(rb" event=rcpt_refused rcpt=<n\xff\x22o\x3d1@x> ", log)


if __name__ == "__main__":
    run_tests()
