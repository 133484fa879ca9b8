"""`popbox fetch login` and OAuth2 fetches against a local provider
(oauth_provider.py: device flow, authorization code + PKCE, rotating
refresh tokens, RS256 JWTs) and `popbox serve` checking those JWTs through
[auth.oauth]: device sign-in, XOAUTH2 and OAUTHBEARER fetches delivering
byte-exact mail, refresh near expiry, one refresh and retry after [AUTH],
a revoked refresh token (exit 77 and the message), the loopback browser
flow with a test "browser" (which inherits no socket), `--browser` and
Google (the test is the browser), Microsoft's localhost redirect, the
token store lock, retries only after [AUTH] or a bare -ERR, and the
provider misbehaving (untrusted certificate, a body over 64 KiB, a 302,
slow_down)."""

import fcntl
import json
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse
import urllib.request

import fetch_helpers
from fetch_helpers import EX_NOPERM
from harness import MESSAGES, POPBOX, Env, run_tests, wait_for
from oauth_provider import AUDIENCE, CLIENT_ID, ISSUER, Provider

ALICE = "alice@example.com"


class FetchOAuthTest(unittest.TestCase):
    def setUp(self):
        self.env = Env(users={ALICE: "alice-pw"}, failure_delay="5ms")
        self.provider = Provider(self.env.dir, ALICE)
        with open(self.env.config, "a") as f:
            f.write(f'[auth.oauth]\nissuer = "{ISSUER}"\naudience = "{AUDIENCE}"\n'
                    f'public_keys = ["{self.provider.public_key}"]\nuser_claim = "email"\n')
        self.message = MESSAGES["dots"]
        self.env.deliver(ALICE, self.message)
        self.server = self.env.start()
        self.state = os.path.join(self.env.dir, "state")
        self.store = os.path.join(self.state, "work.oauth.json")

    def tearDown(self):
        self.provider.close()
        self.env.close()

    # --- helpers ---
    def config(self, mech="xoauth2", name="work", extra_accounts=(), **extra):
        accounts = [self.account(mech, name, **extra)] + list(extra_accounts)
        path = os.path.join(self.env.dir, f"fetch-{name}.toml")
        fetch_helpers.write_config(path, *accounts)
        with open(path) as f:  # write_config writes no arrays
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("[[account]]\n", '[[account]]\noauth_scopes = ["pop3"]\n'))
        return path

    def account(self, mech="xoauth2", name="work", **extra):
        p = self.provider.url
        a = fetch_helpers.account(self.env, name=name, user=ALICE, mode="none", password=None,
                                  auth=mech, oauth="custom", oauth_client_id=CLIENT_ID,
                                  oauth_authorize_url=p + "/authorize",
                                  oauth_token_url=p + "/token", oauth_device_url=p + "/device",
                                  oauth_ca_file=self.provider.cert)
        a.update(extra)
        return a

    def login_device(self, config, account="work"):
        """Runs `login --device`, approves the printed code, returns the result."""
        proc = subprocess.Popen([POPBOX, "fetch", "login", "--account", account, "--device",
                                 "-c", config], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        lines = []
        for line in iter(proc.stdout.readline, ""):
            lines.append(line)
            m = re.search(r"enter the code (\S+)", line)
            if m:
                self.assertIn(self.provider.url + "/activate", line)
                self.provider.approve(m.group(1))
                break
        # read(), not communicate(): the text already buffered is kept.
        out, err = proc.stdout.read(), proc.stderr.read()
        proc.wait(timeout=60)
        return proc.returncode, "".join(lines) + out, err

    def read_store(self):
        with open(self.store) as f:
            return json.load(f)

    def write_store(self, **changes):
        data = self.read_store()
        data.update(changes)
        tmp = self.store + ".edit"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self.store)

    def delivered(self, name="work"):
        return fetch_helpers.maildir_files(os.path.join(self.env.dir, "out-" + name))

    # --- tests ---
    def test_device_login_then_xoauth2_and_oauthbearer_fetches(self):
        for mech in ("xoauth2", "oauthbearer"):
            with self.subTest(mech=mech):
                cfg = self.config(mech, name="work")
                rc, out, err = self.login_device(cfg)
                self.assertEqual(rc, 0, err)
                self.assertIn("or open " + self.provider.url + "/activate?code=", out)
                self.assertIn("signed in", out)
                st = os.stat(self.store)
                self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
                tokens = self.read_store()
                self.assertTrue(tokens["refresh_token"] and tokens["access_token"])
                self.assertNotIn(tokens["access_token"], out + err)
                # No temporary file left next to it.
                self.assertEqual([n for n in os.listdir(self.state) if ".tmp." in n], [])
                r = fetch_helpers.run_fetch(cfg)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertNotIn(tokens["access_token"], r.stdout + r.stderr)
                self.assertNotIn(tokens["refresh_token"], r.stdout + r.stderr)
                self.assertEqual(self.delivered(), [fetch_helpers.local_form(self.message)])
                self.assertEqual(self.provider.count("refresh_token"), 0)  # still fresh
                # Next mechanism: a fresh state and target.
                subprocess.run(["rm", "-rf", self.state, os.path.join(self.env.dir, "out-work")])

    def test_device_login_denied(self):
        cfg = self.config()
        proc = subprocess.Popen([POPBOX, "fetch", "login", "--account", "work", "--device",
                                 "-c", cfg], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        for line in iter(proc.stdout.readline, ""):
            m = re.search(r"enter the code (\S+)", line)
            if m:
                self.provider.deny(m.group(1))
                break
        err = proc.stderr.read()
        proc.stdout.read()
        proc.wait(timeout=60)
        self.assertEqual(proc.returncode, EX_NOPERM, err)
        self.assertIn("the sign-in was denied", err)
        self.assertFalse(os.path.exists(self.store))

    def test_token_near_expiry_is_refreshed_and_rotated(self):
        cfg = self.config()
        self.assertEqual(self.login_device(cfg)[0], 0)
        old = self.read_store()
        self.write_store(expires_at=int(time.time()) + 30)  # within the 60 s margin
        r = fetch_helpers.run_fetch(cfg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.provider.count("refresh_token"), 1)
        new = self.read_store()
        self.assertNotEqual(new["refresh_token"], old["refresh_token"])  # rotated
        self.assertGreater(new["expires_at"], time.time() + 500)
        self.assertEqual(stat.S_IMODE(os.stat(self.store).st_mode), 0o600)
        self.assertEqual(self.delivered(), [fetch_helpers.local_form(self.message)])

    def test_auth_refusal_refreshes_once_and_retries(self):
        cfg = self.config("oauthbearer")
        self.assertEqual(self.login_device(cfg)[0], 0)
        # A token the server refuses ([AUTH]) that the store thinks is good.
        self.write_store(access_token="not-a-jwt", expires_at=int(time.time()) + 3600)
        r = fetch_helpers.run_fetch(cfg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("refreshing it once", r.stderr)
        self.assertEqual(self.provider.count("refresh_token"), 1)
        self.assertEqual(self.delivered(), [fetch_helpers.local_form(self.message)])

    def test_auth_refusal_twice_is_an_auth_failure(self):
        cfg = self.config()
        self.assertEqual(self.login_device(cfg)[0], 0)
        self.provider.email = "mallory@example.com"  # tokens name another user now
        self.write_store(access_token="not-a-jwt", expires_at=int(time.time()) + 3600)
        r = fetch_helpers.run_fetch(cfg)
        self.assertEqual(r.returncode, EX_NOPERM, r.stderr)
        self.assertIn("[AUTH]", r.stderr)
        self.assertEqual(self.provider.count("refresh_token"), 1)  # once, not in a loop
        self.assertEqual(self.delivered(), [])

    def test_revoked_refresh_token(self):
        cfg = self.config()
        self.assertEqual(self.login_device(cfg)[0], 0)
        self.provider.revoke_all()
        self.write_store(expires_at=int(time.time()) - 10)
        r = fetch_helpers.run_fetch(cfg)
        self.assertEqual(r.returncode, EX_NOPERM, r.stderr)
        self.assertIn("run `popbox fetch login --account work` again", r.stderr)
        self.assertIn("invalid_grant", r.stderr)
        self.assertEqual(self.delivered(), [])
        self.assertEqual(fetch_helpers.server_count(self.env, ALICE), 1)
        # The next run does not ask the provider again; status says why.
        r = fetch_helpers.run_fetch(cfg)
        self.assertEqual(r.returncode, EX_NOPERM, r.stderr)
        self.assertEqual(self.provider.count("refresh_token", "invalid_grant"), 1)
        s = subprocess.run([POPBOX, "fetch", "status", "-c", cfg], capture_output=True,
                           text=True, timeout=30)
        self.assertIn("needs login: run `popbox fetch login --account work`", s.stdout)

    def test_browser_flow_with_pkce_and_state(self):
        cfg = self.config()
        browser, seen = self.browser_script()
        env = dict(os.environ, POPBOX_BROWSER=browser)
        r = subprocess.run([POPBOX, "fetch", "login", "--account", "work", "-c", cfg],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        q = self.provider.authorize_queries[-1]
        self.assertEqual(q["code_challenge_method"], "S256")
        self.assertEqual(len(q["code_challenge"]), 43)
        self.assertRegex(q["redirect_uri"], r"^http://127\.0\.0\.1:\d+/$")
        self.assertIn(self.provider.url + "/authorize?", r.stdout)
        with open(seen) as f:
            statuses, v6, sockets = (f.read().split("\n") + [""] * 3)[:3]
        self.assertEqual(statuses.split(), ["400", "200"])  # forged state refused, the real one
        self.assertEqual(sockets, "")  # the browser inherited no socket of ours
        self.assertEqual(self.provider.count("authorization_code"), 1)
        r = fetch_helpers.run_fetch(cfg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.delivered(), [fetch_helpers.local_form(self.message)])

    def test_done_when_login_device_then_daemon(self):
        gone = self.account(name="gone")
        cfg = self.config(extra_accounts=[gone], poll="1s")
        self.assertEqual(self.login_device(cfg)[0], 0)
        d = subprocess.Popen([POPBOX, "fetch", "--daemon", "-c", cfg],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: self.delivered() == [fetch_helpers.local_form(self.message)],
                     timeout=30, what="the daemon's first delivery")
            status = os.path.join(self.state, "gone.sqlite")
            wait_for(lambda: os.path.exists(status), timeout=30, what="gone's run recorded")
        finally:
            d.send_signal(signal.SIGTERM)
            out, err = d.communicate(timeout=30)
        self.assertEqual(d.returncode, 0, err)
        self.assertIn("account=gone result=error", err)
        s = subprocess.run([POPBOX, "fetch", "status", "-c", cfg], capture_output=True,
                           text=True, timeout=30)
        lines = dict(line.split(":", 1) for line in s.stdout.splitlines())
        self.assertIn("needs login", lines["gone"])
        self.assertNotIn("needs login", lines["work"])

    def test_config_rules(self):
        bad = {
            "oauth needs an oauth mechanism": ({"auth": "plain"}, "'oauth' needs auth"),
            "http endpoint": ({"oauth_token_url": "http://127.0.0.1/token"}, "https://"),
            "no client id": ({"oauth_client_id": None}, "oauth_client_id"),
            "unknown preset": ({"oauth": "yahoo"}, "'oauth' must be"),
            "with a password": ({"password": "x"}, "exclude each other"),
            "unusable oauth_ca_file": ({"oauth_ca_file": "/nonexistent/ca.pem"},
                                       "'oauth_ca_file' /nonexistent/ca.pem"),
            "tokens in clear text": ({"host": "pop.example.com"}, "'oauth' needs TLS"),
        }
        for name, (change, message) in bad.items():
            with self.subTest(name):
                path = os.path.join(self.env.dir, "bad.toml")
                a = self.account()
                a.update(change)
                fetch_helpers.write_config(path, a)
                r = fetch_helpers.run_fetch(path)
                self.assertEqual(r.returncode, fetch_helpers.EX_CONFIG, r.stderr)
                self.assertIn(message, r.stderr)

    # --- the review's fixes ---
    def browser_script(self):
        seen = os.path.join(self.env.dir, "browser-seen")
        browser = os.path.join(self.env.dir, "browser.py")
        with open(browser, "w") as f:
            f.write(BROWSER.format(python=sys.executable, ca=self.provider.cert, seen=seen))
        os.chmod(browser, 0o755)
        return browser, seen

    def be_the_browser(self, proc):
        """Reads the login's output up to the port-forwarding hint, opens the
        printed URL (following the provider's 302 to the loopback listener)
        and returns the output and the listener's HTTP status."""
        lines = []
        for line in iter(proc.stdout.readline, ""):
            lines.append(line)
            if "ssh -L" in line:
                break
        urls = [line.strip() for line in lines if line.startswith(self.provider.url + "/authorize?")]
        self.assertEqual(len(urls), 1, "".join(lines))
        ctx = ssl.create_default_context(cafile=self.provider.cert)
        status = urllib.request.urlopen(urls[0], context=ctx, timeout=10).status
        return "".join(lines), status

    def test_browser_flag_prints_url_and_hint_and_opens_nothing(self):
        cfg = self.config()
        opened = os.path.join(self.env.dir, "opened")
        opener = os.path.join(self.env.dir, "opener.sh")
        with open(opener, "w") as f:
            f.write(f"#!/bin/sh\ntouch {opened}\n")
        os.chmod(opener, 0o755)
        env = dict(os.environ, POPBOX_BROWSER=opener, DISPLAY=":0")
        proc = subprocess.Popen([POPBOX, "fetch", "login", "--account", "work", "--browser",
                                 "-c", cfg], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env)
        head, status = self.be_the_browser(proc)
        out, err = proc.stdout.read(), proc.stderr.read()
        proc.wait(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(status, 200)
        port = urllib.parse.urlsplit(self.provider.authorize_queries[-1]["redirect_uri"]).port
        self.assertIn(f"ssh -L {port}:127.0.0.1:{port}", head)
        self.assertIn("signed in", out)
        self.assertFalse(os.path.exists(opened))  # --browser never starts one
        self.assertEqual(self.provider.count("authorization_code"), 1)
        self.assertEqual(self.provider.count("urn:ietf:params:oauth:grant-type:device_code"), 0)
        r = fetch_helpers.run_fetch(cfg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.delivered(), [fetch_helpers.local_form(self.message)])
        # --device and --browser exclude each other.
        r = subprocess.run([POPBOX, "fetch", "login", "--account", "work", "--browser",
                            "--device", "-c", cfg], capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)

    def test_google_has_no_device_flow_and_headless_login_uses_the_browser_flow(self):
        p = self.provider.url
        cfg = self.config(oauth="google", oauth_device_url=None,
                          oauth_authorize_url=p + "/authorize", oauth_token_url=p + "/token")
        r = subprocess.run([POPBOX, "fetch", "login", "--account", "work", "--device", "-c", cfg],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, fetch_helpers.EX_CONFIG, r.stderr)
        self.assertIn("Google does not allow the mail scope", r.stderr)
        self.assertIn("--browser", r.stderr)
        # No display, no flag: the browser flow with the URL printed (never
        # the device flow Google refuses).
        env = {k: v for k, v in os.environ.items()
               if k not in ("DISPLAY", "WAYLAND_DISPLAY", "POPBOX_BROWSER")}
        proc = subprocess.Popen([POPBOX, "fetch", "login", "--account", "work", "-c", cfg],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
        _, status = self.be_the_browser(proc)
        err = proc.stderr.read()
        proc.stdout.read()
        proc.wait(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(status, 200)
        q = self.provider.authorize_queries[-1]
        self.assertEqual((q["access_type"], q["prompt"]), ("offline", "consent"))

    def test_microsoft_redirect_names_localhost_listener_on_127_0_0_1_only(self):
        p = self.provider.url
        cfg = self.config(oauth="microsoft", oauth_authorize_url=p + "/authorize",
                          oauth_token_url=p + "/token")
        browser, seen = self.browser_script()
        env = dict(os.environ, POPBOX_BROWSER=browser)
        r = subprocess.run([POPBOX, "fetch", "login", "--account", "work", "-c", cfg],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(self.provider.authorize_queries[-1]["redirect_uri"],
                         r"^http://localhost:\d+/$")
        with open(seen) as f:
            codes, v6 = f.read().splitlines()[:2]
        self.assertEqual(codes.split(), ["400", "200"])
        self.assertEqual(v6, "v6-closed")

    def test_run_waits_for_the_token_store_lock(self):
        cfg = self.config()
        self.assertEqual(self.login_device(cfg)[0], 0)
        self.write_store(expires_at=int(time.time()) - 10)  # the run must refresh
        fd = os.open(os.path.join(self.state, "work.oauth.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # a login saving its tokens
            proc = subprocess.Popen([POPBOX, "fetch", "-c", cfg], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            time.sleep(1)
            self.assertIsNone(proc.poll())
            self.assertEqual(self.provider.count("refresh_token"), 0)  # not before the lock
        finally:
            os.close(fd)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(self.provider.count("refresh_token"), 1)
        self.assertEqual(self.delivered(), [fetch_helpers.local_form(self.message)])

    def test_only_a_refusal_of_the_token_is_retried(self):
        cfg = self.config()
        self.assertEqual(self.login_device(cfg)[0], 0)
        for reply, retried in ((b"-ERR [SYS/PERM] POP3 is disabled for this mailbox", False),
                               (b"-ERR [AUTH] invalid token", True),
                               (b"-ERR invalid token", True)):
            with self.subTest(reply=reply):
                pop = RefusingPop3(reply)
                try:
                    before = self.provider.count("refresh_token")
                    path = self.config(port=pop.port)
                    r = fetch_helpers.run_fetch(path)
                finally:
                    pop.close()
                self.assertEqual(r.returncode, EX_NOPERM, r.stderr)
                self.assertEqual("refreshing it once" in r.stderr, retried, r.stderr)
                self.assertEqual(pop.auths, 2 if retried else 1)
                self.assertEqual(self.provider.count("refresh_token") - before,
                                 1 if retried else 0)

    def test_status_with_a_valid_access_token_but_no_refresh_token(self):
        cfg = self.config()
        self.assertEqual(self.login_device(cfg)[0], 0)
        status = [POPBOX, "fetch", "status", "-c", cfg]
        self.write_store(refresh_token="", expires_at=int(time.time()) + 3600)
        s = subprocess.run(status, capture_output=True, text=True, timeout=30)
        self.assertNotIn("needs login", s.stdout)
        self.write_store(expires_at=int(time.time()) - 10)
        s = subprocess.run(status, capture_output=True, text=True, timeout=30)
        self.assertIn("needs login", s.stdout)

    def test_provider_misbehaving(self):
        # No oauth_ca_file: the provider's certificate is not trusted.
        r = self.login_device(self.config(oauth_ca_file=None))
        self.assertEqual(r[0], fetch_helpers.EX_PROTOCOL, r[2])
        self.assertIn("certificate", r[2].lower())
        cfg = self.config()
        self.provider.device_misbehave = "huge"
        r = self.login_device(cfg)
        self.assertNotEqual(r[0], 0)
        self.assertIn("larger than 65536 bytes", r[2])
        self.provider.device_misbehave = "redirect"
        r = self.login_device(cfg)
        self.assertNotEqual(r[0], 0)
        self.assertIn("HTTP 302", r[2])
        self.assertEqual(self.provider.elsewhere_hits, 0)  # not followed
        self.assertFalse(os.path.exists(self.store))

    def test_slow_down_adds_five_seconds_to_the_next_poll(self):
        cfg = self.config()
        self.provider.slow_down_once = True
        rc, out, err = self.login_device(cfg)
        self.assertEqual(rc, 0, err)
        polls = self.provider.device_polls
        self.assertGreaterEqual(len(polls), 2)
        # interval 1 s, then 1 + 5 after slow_down (sleeps wait at least that)
        self.assertGreaterEqual(polls[1] - polls[0], 5.9)

# The test's "browser": first a redirect with a forged state (must be
# refused), then the real authorize URL, following the provider's 302 to
# the loopback listener; writes the listener's HTTP statuses.
BROWSER = '''#!{python}
import os
socks = []
for fd in os.listdir("/proc/self/fd"):
    try:
        if os.readlink("/proc/self/fd/" + fd).startswith("socket:"):
            socks.append(fd)
    except OSError:
        pass
import socket, ssl, sys, urllib.error, urllib.parse, urllib.request
url = sys.argv[1]
q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
try:  # the listener is on 127.0.0.1 only, even when the URI says localhost
    socket.create_connection(("::1", urllib.parse.urlsplit(q["redirect_uri"]).port), 2).close()
    v6 = "v6-open"
except OSError:
    v6 = "v6-closed"
codes = []
try:
    urllib.request.urlopen(q["redirect_uri"] + "?code=forged&state=forged", timeout=10)
except urllib.error.HTTPError as e:
    codes.append(e.code)
ctx = ssl.create_default_context(cafile="{ca}")
r = urllib.request.urlopen(url, context=ctx, timeout=10)
codes.append(r.status)
with open("{seen}", "w") as f:
    f.write(" ".join(map(str, codes)) + "\\n" + v6 + "\\n" + " ".join(socks) + "\\n")
'''

class RefusingPop3:
    """A POP3 server on loopback that refuses every AUTH with `reply`."""

    def __init__(self, reply):
        self.reply = reply
        self.auths = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(20)
            with conn, conn.makefile("rwb") as f:
                f.write(b"+OK ready\r\n")
                f.flush()
                for line in f:
                    cmd = line.strip().split(b" ")[0].upper()
                    if cmd == b"CAPA":
                        f.write(b"+OK\r\nSASL XOAUTH2 OAUTHBEARER\r\nRESP-CODES\r\nUIDL\r\n.\r\n")
                    elif cmd == b"AUTH":
                        self.auths += 1
                        f.write(self.reply + b"\r\n")
                    elif cmd == b"QUIT":
                        f.write(b"+OK\r\n")
                        f.flush()
                        break
                    else:
                        f.write(b"-ERR unknown command\r\n")
                    f.flush()

    def close(self):
        self.stop = True
        self.thread.join(timeout=5)
        self.sock.close()


if __name__ == "__main__":
    run_tests()
