"""`popbox fetch login` and OAuth2 fetches against a local provider
(oauth_provider.py: device flow, authorization code + PKCE, rotating
refresh tokens, RS256 JWTs) and `popbox serve` checking those JWTs through
[auth.oauth]: device sign-in, XOAUTH2 and OAUTHBEARER fetches delivering
byte-exact mail, refresh near expiry, one refresh and retry after [AUTH],
a revoked refresh token (exit 77 and the message), the loopback browser
flow with a test "browser", and login --device then --daemon."""

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import unittest

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
        seen = os.path.join(self.env.dir, "browser-seen")
        browser = os.path.join(self.env.dir, "browser.py")
        with open(browser, "w") as f:
            f.write(BROWSER.format(python=sys.executable, ca=self.provider.cert, seen=seen))
        os.chmod(browser, 0o755)
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
            statuses = f.read().split()
        self.assertEqual(statuses, ["400", "200"])  # forged state refused, the real one taken
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


# The test's "browser": first a redirect with a forged state (must be
# refused), then the real authorize URL, following the provider's 302 to
# the loopback listener; writes the listener's HTTP statuses.
BROWSER = '''#!{python}
import ssl, sys, urllib.error, urllib.parse, urllib.request
url = sys.argv[1]
q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
codes = []
try:
    urllib.request.urlopen(q["redirect_uri"] + "?code=forged&state=forged", timeout=10)
except urllib.error.HTTPError as e:
    codes.append(e.code)
ctx = ssl.create_default_context(cafile="{ca}")
r = urllib.request.urlopen(url, context=ctx, timeout=10)
codes.append(r.status)
with open("{seen}", "w") as f:
    f.write(" ".join(map(str, codes)))
'''


if __name__ == "__main__":
    run_tests()
