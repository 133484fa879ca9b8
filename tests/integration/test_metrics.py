"""[metrics] listen: GET /metrics in Prometheus text format 0.0.4, scraped
with curl while real clients (poplib plain and POP3S, smtplib's LMTP)
drive sessions; counters move by exactly what the sessions did, promtool
accepts the output, anything but GET /metrics is a 404, and garbage or
stuck clients do not take the endpoint down, hold its memory or delay
shutdown."""

import json
import os
import poplib
import re
import smtplib
import socket
import ssl
import subprocess
import signal
import tempfile
import threading
import time
import unittest

from harness import POPBOX, SRC, TEST_USER, Env, RssSampler, run_tests

MESSAGE = b"Subject: metrics\r\n\r\nhello\r\n"
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$")


def metrics_env(**kw):
    env = Env(user_extra={"bob@example.com": "userdb_quota_rule=*:storage=1K"},
              extra_sections='[lmtp]\nlisten = ["127.0.0.1:0"]\n'
                             '[metrics]\nlisten = "127.0.0.1:0"\n', **kw)
    env.deliver("alice", MESSAGE)
    return env


def metrics_port(server):
    deadline = time.time() + 10
    while time.time() < deadline:
        m = re.search(r"event=listening proto=metrics address=127\.0\.0\.1:(\d+)",
                      server.log_text())
        if m:
            return int(m.group(1))
        time.sleep(0.05)
    raise AssertionError("no metrics listening line:\n" + server.log_text())


def curl(port, path="/metrics", *args):
    """(status, content type, body) of one request made by curl."""
    out = subprocess.run(
        ["curl", "-s", "-m", "10", "-o", "-", "-w", "\n%{http_code} %{content_type}", *args,
         f"http://127.0.0.1:{port}{path}"],
        capture_output=True, check=True, timeout=20).stdout.decode()
    body, _, tail = out.rpartition("\n")
    status, _, ctype = tail.partition(" ")
    return int(status), ctype, body


def scrape(port):
    status, ctype, body = curl(port)
    assert status == 200, (status, body)
    assert ctype == "text/plain; version=0.0.4; charset=utf-8", ctype
    values = {}
    for line in body.splitlines():
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, line
        values[m.group(1)] = float(m.group(2))
    return values, body


def tls_context(env):
    ctx = ssl.create_default_context(cafile=env.cert)
    ctx.check_hostname = False
    return ctx


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = metrics_env()
        cls.server = cls.env.start()
        cls.port = metrics_port(cls.server)

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def delta(self, before, after, series):
        return after.get(series, 0) - before.get(series, 0)

    def assert_deltas(self, before, after, want):
        got = {k: self.delta(before, after, k) for k in want}
        self.assertEqual(got, want)

    def last_disconnect(self):
        lines = [l for l in self.server.log_text().splitlines() if "event=disconnect" in l]
        return dict(kv.split("=", 1) for kv in lines[-1].split() if "=" in kv)

    def wait_closed(self, listener):
        # The disconnect is counted after the client saw QUIT's +OK.
        deadline = time.time() + 5
        while time.time() < deadline:
            values, _ = scrape(self.port)
            if values[f'popbox_sessions_open{{listener="{listener}"}}'] == 0:
                return values
            time.sleep(0.02)
        self.fail(f"{listener} session still open")

    def test_pop3_login_retr_quit_moves_exact_counters(self):
        before, _ = scrape(self.port)
        c = poplib.POP3("127.0.0.1", self.server.pop3)
        c.user("alice")
        c.pass_("alice-secret")
        during, _ = scrape(self.port)
        self.assertEqual(self.delta(before, during, 'popbox_sessions_open{listener="pop3"}'), 1)
        _, lines, _ = c.retr(1)
        self.assertEqual(b"\r\n".join(lines) + b"\r\n", MESSAGE)
        c.quit()
        after = self.wait_closed("pop3")
        log = self.last_disconnect()
        self.assert_deltas(before, after, {
            'popbox_sessions_total{listener="pop3",result="quit"}': 1,
            'popbox_logins_total{mechanism="USER",result="ok"}': 1,
            'popbox_pop3_commands_total{command="USER"}': 1,
            'popbox_pop3_commands_total{command="PASS"}': 1,
            'popbox_pop3_commands_total{command="RETR"}': 1,
            'popbox_pop3_commands_total{command="QUIT"}': 1,
            'popbox_pop3_commands_total{command="other"}': 0,
            'popbox_retr_duration_seconds_count{command="RETR"}': 1,
            'popbox_login_duration_seconds_count{result="ok"}': 1,
            'popbox_maildrop_open_duration_seconds_count': 1,
            'popbox_received_bytes_total{listener="pop3"}': int(log["bytes_in"]),
            'popbox_sent_bytes_total{listener="pop3"}': int(log["bytes_out"]),
        })
        # A RETR of a local file takes well under 10 s: no +Inf-only bucket.
        self.assertEqual(self.delta(
            before, after, 'popbox_retr_duration_seconds_bucket{command="RETR",le="10"}'), 1)

    def test_bad_password_and_cache_hit(self):
        before, _ = scrape(self.port)
        c = poplib.POP3("127.0.0.1", self.server.pop3)
        c.user("alice")
        with self.assertRaises(poplib.error_proto):
            c.pass_("wrong")
        c.quit()
        for _ in range(2):  # the second one is a cache hit
            c = poplib.POP3("127.0.0.1", self.server.pop3)
            c.user("alice")
            c.pass_("alice-secret")
            c.quit()
            self.wait_closed("pop3")
        after, _ = scrape(self.port)
        self.assert_deltas(before, after, {
            'popbox_logins_total{mechanism="USER",result="bad_credentials"}': 1,
            'popbox_logins_total{mechanism="USER",result="ok"}': 2,
            'popbox_login_duration_seconds_count{result="failed"}': 1,
            'popbox_sessions_total{listener="pop3",result="quit"}': 3,
        })
        hits = self.delta(before, after, 'popbox_auth_cache_lookups_total{result="hit"}')
        misses = self.delta(before, after, 'popbox_auth_cache_lookups_total{result="miss"}')
        self.assertGreaterEqual(hits, 1)
        self.assertEqual(hits + misses, 3)

    def test_in_use_refusal(self):
        before, _ = scrape(self.port)
        first = poplib.POP3("127.0.0.1", self.server.pop3)
        first.user("alice")
        first.pass_("alice-secret")
        second = poplib.POP3("127.0.0.1", self.server.pop3)
        second.user("alice")
        with self.assertRaises(poplib.error_proto) as err:
            second.pass_("alice-secret")
        self.assertIn(b"[IN-USE]", err.exception.args[0])
        second.quit()
        first.quit()
        after = self.wait_closed("pop3")
        self.assert_deltas(before, after, {
            "popbox_maildrop_in_use_total": 1,
            'popbox_logins_total{mechanism="USER",result="in_use"}': 1,
            'popbox_logins_total{mechanism="USER",result="ok"}': 1,
        })

    def test_pop3s_counts_the_tls_handshake(self):
        before, _ = scrape(self.port)
        c = poplib.POP3_SSL("127.0.0.1", self.server.pop3s, context=tls_context(self.env))
        version = c.sock.version()
        c.user("alice")
        c.pass_("alice-secret")
        c.quit()
        after = self.wait_closed("pop3s")
        self.assert_deltas(before, after, {
            f'popbox_tls_handshakes_total{{version="{version}"}}': 1,
            'popbox_tls_handshake_failures_total': 0,
            'popbox_sessions_total{listener="pop3s",result="quit"}': 1,
            'popbox_logins_total{mechanism="USER",result="ok"}': 1,
        })
        # Plain TCP to the TLS port: a failed handshake.
        with socket.create_connection(("127.0.0.1", self.server.pop3s), timeout=5) as s:
            s.sendall(b"USER alice\r\n")
            try:
                s.recv(100)
            except OSError:
                pass  # reset: the server gave up on the handshake
        deadline = time.time() + 5
        while time.time() < deadline:
            later, _ = scrape(self.port)
            if self.delta(after, later, "popbox_tls_handshake_failures_total") == 1:
                break
            time.sleep(0.02)
        self.assertEqual(self.delta(after, later, "popbox_tls_handshake_failures_total"), 1)

    def test_lmtp_delivery_and_quota_refusal(self):
        before, _ = scrape(self.port)
        with smtplib.LMTP("127.0.0.1", self.server.lmtp) as lmtp:
            lmtp.sendmail("s@example.org", ["alice"], b"Subject: in\r\n\r\nx\r\n")
            big = b"Subject: big\r\n\r\n" + b"z" * 4000 + b"\r\n"
            # smtplib announces SIZE: the quota refuses at RCPT.
            with self.assertRaises(smtplib.SMTPRecipientsRefused):
                lmtp.sendmail("s@example.org", ["bob@example.com"], big)
        deadline = time.time() + 5
        while time.time() < deadline:
            after, _ = scrape(self.port)
            if self.delta(before, after, 'popbox_sessions_total{listener="lmtp",result="closed"}'):
                break
            time.sleep(0.02)
        self.assert_deltas(before, after, {
            'popbox_lmtp_recipients_total{result="ok"}': 1,
            'popbox_lmtp_recipients_total{result="over_quota"}': 1,
            'popbox_lmtp_deliveries_total{result="ok"}': 1,
            'popbox_lmtp_quota_refusals_total': 1,
            'popbox_sessions_total{listener="lmtp",result="closed"}': 1,
            'popbox_sessions_open{listener="lmtp"}': 0,
        })
        self.assertGreater(self.delta(before, after, 'popbox_received_bytes_total{listener="lmtp"}'),
                           20)
        self.assertGreater(self.delta(before, after, 'popbox_sent_bytes_total{listener="lmtp"}'), 20)

    def test_promtool_accepts_the_output(self):
        # Some traffic first, so histograms and counters are not all zero.
        c = poplib.POP3("127.0.0.1", self.server.pop3)
        c.user("alice")
        c.pass_("alice-secret")
        c.quit()
        values, body = scrape(self.port)
        r = subprocess.run(["promtool", "check", "metrics"], input=body.encode(),
                           capture_output=True, timeout=30)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, b"", b""))
        version = subprocess.run([POPBOX, "--version"], capture_output=True, text=True,
                                 check=True, timeout=30).stdout.split()[1]
        self.assertEqual(values[f'popbox_build_info{{version="{version}"}}'], 1)
        self.assertGreater(values["popbox_process_resident_memory_bytes"], 1 << 20)
        self.assertGreaterEqual(values["popbox_process_open_fds"], 5)

    def test_only_get_metrics_is_served(self):
        for path, args in [("/", []), ("/metrics/", []), ("/metricsx", []), ("/index.html", []),
                           ("/metrics?x=1", []), ("/metrics", ["-X", "POST"]),
                           ("/metrics", ["-X", "DELETE"]), ("/../etc/passwd", ["--path-as-is"])]:
            status, _, body = curl(self.port, path, *args)
            self.assertEqual(status, 404, (path, args, body))
            self.assertEqual(body, "not found; try /metrics\n")
        # Requests have no body: one is refused before any routing.
        status, _, body = curl(self.port, "/metrics", "-X", "POST", "-d", "x=1")
        self.assertEqual((status, body), (413, "request body not accepted\n"))
        # HEAD: the head of the GET (curl -I prints it), no exposition.
        status, _, head = curl(self.port, "/metrics", "-I")
        self.assertEqual(status, 200)
        self.assertRegex(head, r"\r\nContent-Length: [1-9][0-9]*\r\nConnection: close\r\n\r\n$")
        self.assertNotIn("popbox_", head)

    def test_survives_garbage_and_stuck_clients(self):
        garbage = [b"\x00\xff" * 500 + b"\r\n\r\n", b"GET\r\n\r\n", b"GET /metrics HTTP/9.9\r\n\r\n",
                   b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n",
                   b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 5000 + b"\r\n",
                   b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 100]
        for g in garbage:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
                try:
                    s.sendall(g)
                    s.shutdown(socket.SHUT_WR)
                    while s.recv(65536):
                        pass
                except OSError:
                    pass  # a reset is an acceptable answer to garbage
            self.assertEqual(curl(self.port)[0], 200, g[:40])
        # A client that connects and sends nothing holds one thread for at
        # most the timeout; scrapes go on meanwhile.
        stuck = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            started = time.time()
            self.assertEqual(curl(self.port)[0], 200)
            self.assertLess(time.time() - started, 3)
        finally:
            stuck.close()
        self.assertIsNone(self.server.proc.poll())

    def test_oversized_request_head_is_refused(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\n" + b"X-Long: " + b"a" * 5000 + b"\r\n\r\n")
            reply = s.recv(65536)
        self.assertTrue(reply.startswith(b"HTTP/1.1 431 "), reply[:80])
        self.assertIn(b"\r\nConnection: close\r\n", reply)

    def test_grafana_dashboard_names_only_exported_series(self):
        with open(os.path.join(SRC, "contrib/grafana/popbox.json")) as f:
            dash = json.load(f)
        _, body = scrape(self.port)
        families = dict(re.findall(r"^# TYPE (\S+) (\S+)$", body, re.M))
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        self.assertEqual(variables["datasource"]["type"], "datasource")
        self.assertEqual(variables["datasource"]["query"], "prometheus")
        exprs = []
        for panel in dash["panels"]:
            self.assertEqual(panel["datasource"]["uid"], "${datasource}", panel["title"])
            for t in panel["targets"]:
                exprs.append(t["expr"])
        used = set()
        for e in exprs:
            # Every series is selected by instance ({...}); any popbox_ word counts too.
            names = set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", e))
            names |= set(re.findall(r"\bpopbox_[a-z0-9_]+", e))
            self.assertTrue(names, e)
            for name in names:
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                if name in families:
                    used.add(name)
                elif families.get(base) == "histogram":
                    used.add(base)
                else:
                    self.fail(f"{name} in {e!r} is not an exported series")
        # A panel for each area the operator watches.
        for want in ["popbox_sessions_open", "popbox_sessions_total", "popbox_logins_total",
                     "popbox_login_duration_seconds", "popbox_retr_duration_seconds",
                     "popbox_sent_bytes_total", "popbox_received_bytes_total",
                     "popbox_tls_handshakes_total", "popbox_lmtp_deliveries_total",
                     "popbox_auth_cache_lookups_total", "popbox_process_resident_memory_bytes",
                     "popbox_process_open_fds"]:
            self.assertIn(want, used)
        self.assertTrue(any(e.startswith("histogram_quantile(0.99,") for e in exprs))
        self.assertTrue(any(e.startswith("histogram_quantile(0.5,") for e in exprs))
        # Every expression is valid PromQL: promtool checks them as rules.
        rules = {"groups": [{"name": "dashboard", "rules": [
            {"record": f"popbox:dashboard_{i}",
             "expr": e.replace("$__rate_interval", "5m").replace("$instance", ".*")}
            for i, e in enumerate(exprs)]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            json.dump(rules, f)  # JSON is YAML
            f.flush()
            r = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True,
                               text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class MetricsRefusalTest(unittest.TestCase):
    def test_per_address_refusal_is_counted(self):
        env = Env(extra_sections='[limits]\nmax_connections_per_ip = 1\n'
                                 '[metrics]\nlisten = "127.0.0.1:0"\n')
        try:
            server = env.start()
            port = metrics_port(server)
            before, _ = scrape(port)
            with socket.create_connection(("127.0.0.1", server.pop3), timeout=10) as first:
                self.assertTrue(first.recv(100).startswith(b"+OK"))
                with socket.create_connection(("127.0.0.1", server.pop3), timeout=10) as second:
                    self.assertEqual(second.recv(100),
                                     b"-ERR [SYS/TEMP] Too many connections from your address.\r\n")
                after, _ = scrape(port)
            series = 'popbox_connections_refused_total{listener="pop3",reason="max_connections_per_ip"}'
            self.assertEqual(after[series] - before[series], 1)
            self.assertEqual(after['popbox_sessions_open{listener="pop3"}'], 1)
        finally:
            env.close()


class MetricsPenaltyTest(unittest.TestCase):
    def test_blocked_address_is_counted(self):
        env = Env(extra_sections='[limits]\nauth_failures_per_ip = 2\n'
                                 '[metrics]\nlisten = "127.0.0.1:0"\n', failure_delay="10ms")
        try:
            server = env.start()
            port = metrics_port(server)
            for _ in range(2):
                c = poplib.POP3("127.0.0.1", server.pop3)
                c.user("alice")
                with self.assertRaises(poplib.error_proto):
                    c.pass_("wrong")
                c.quit()
            c = poplib.POP3("127.0.0.1", server.pop3)
            c.user("alice")
            with self.assertRaises(poplib.error_proto) as err:
                c.pass_("alice-secret")  # right, but the address is blocked
            self.assertIn(b"[SYS/TEMP]", err.exception.args[0])
            c.quit()
            values, _ = scrape(port)
            self.assertEqual(values["popbox_auth_penalty_blocks_total"], 1)
            self.assertEqual(values['popbox_logins_total{mechanism="USER",result="bad_credentials"}'],
                             2)
            self.assertEqual(values['popbox_logins_total{mechanism="USER",result="temp_failure"}'], 1)
        finally:
            env.close()


class MetricsProxyTest(unittest.TestCase):
    def test_proxy_failures_are_ended_sessions_never_open_ones(self):
        env = Env(extra_server='trusted_proxies = ["127.0.0.1/32"]\n',
                  extra_sections='[metrics]\nlisten = "127.0.0.1:0"\n')
        try:
            server = env.start()
            port = metrics_port(server)
            before, _ = scrape(port)
            with socket.create_connection(("127.0.0.1", server.pop3), timeout=10) as waiting:
                # Connected, PROXY header not yet sent: no session is open.
                time.sleep(0.2)
                during, _ = scrape(port)
                self.assertEqual(during['popbox_sessions_open{listener="pop3"}'], 0)
                waiting.sendall(b"CAPA\r\n")  # not a PROXY header
                try:
                    self.assertEqual(waiting.recv(100), b"")  # no greeting, closed
                except ConnectionResetError:
                    pass  # closed with CAPA unread: as good
            deadline = time.time() + 5
            while time.time() < deadline:
                after, _ = scrape(port)
                if self.delta(before, after, 'popbox_sessions_total{listener="pop3",result="proxy"}'):
                    break
                time.sleep(0.05)
            self.assertEqual(
                self.delta(before, after, 'popbox_sessions_total{listener="pop3",result="proxy"}'), 1)
            self.assertEqual(after['popbox_sessions_open{listener="pop3"}'], 0)
        finally:
            env.close()

    def delta(self, before, after, series):
        return after.get(series, 0) - before.get(series, 0)


class MetricsHardeningTest(unittest.TestCase):
    """Clients that dribble bytes or stream a line without end: scrapes go
    on, the server's memory stays put, and SIGTERM is not delayed."""

    def test_dribblers_and_an_endless_line(self):
        env = metrics_env()
        try:
            server = env.start()
            port = metrics_port(server)
            scrape(port)
            stop = threading.Event()

            def dribble():
                # One byte every 0.5 s, reconnecting when the deadline cuts.
                while not stop.is_set():
                    try:
                        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                            while not stop.is_set():
                                s.sendall(b"G")
                                stop.wait(0.5)
                    except OSError:
                        pass

            sent = [0]

            def endless():
                # Up to 100 MB with no newline, as fast as the server reads.
                chunk = b"A" * 65536
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    try:
                        while sent[0] < 100 << 20 and not stop.is_set():
                            sent[0] += s.send(chunk)
                    except OSError:
                        pass  # the server refused and closed: what we want

            sampler = RssSampler(server.proc.pid)
            before = sampler.peak
            sampler.start()
            threads = [threading.Thread(target=dribble, daemon=True) for _ in range(3)]
            threads.append(threading.Thread(target=endless, daemon=True))
            for t in threads:
                t.start()
            try:
                # Scrapes are answered at once throughout, past the deadline
                # that cuts the dribblers (limits::metrics_timeout, 5 s).
                for _ in range(8):
                    started = time.time()
                    self.assertEqual(curl(port)[0], 200)
                    self.assertLess(time.time() - started, 2)
                    time.sleep(1)
                peak = sampler.stop()
                # The endless line was cut at the head limit, not buffered.
                self.assertLess(sent[0], 100 << 20)
                self.assertLess(peak - before, 20 << 10, (before, peak))
                # SIGTERM with dribblers still connected: a prompt exit.
                started = time.time()
                server.kill(signal.SIGTERM)
                server.proc.wait(15)
                self.assertLess(time.time() - started, 5)
                self.assertEqual(server.proc.returncode, 0)
            finally:
                stop.set()
                for t in threads:
                    t.join(10)
        finally:
            env.close()


class MetricsPublicListenTest(unittest.TestCase):
    def test_check_warns_about_a_public_endpoint(self):
        for listen, public in [("0.0.0.0:9110", True), ("[::]:9110", True),
                               ("192.0.2.1:9110", True), ("127.0.0.1:9110", False),
                               ("[::1]:9110", False)]:
            env = Env(extra_sections=f'[metrics]\nlisten = "{listen}"\n')
            try:
                r = subprocess.run([POPBOX, "check", "--config", env.config], capture_output=True,
                                   text=True, timeout=30)
                warned = "warning: [metrics] listen" in r.stderr
                self.assertEqual(warned, public, (listen, r.stderr))
                if public:
                    self.assertIn("is not a loopback address", r.stderr)
            finally:
                env.close()


class MetricsStartupTest(unittest.TestCase):
    def test_bind_failure_is_a_clear_startup_error(self):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = Env(extra_sections=f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
        try:
            r = subprocess.run([POPBOX, "serve", "--config", env.config], capture_output=True,
                               timeout=30)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(f"[metrics] cannot listen on 127.0.0.1:{port}".encode(), r.stderr)
        finally:
            taken.close()
            env.close()

    def test_privileged_port_is_bound_before_the_privilege_drop(self):
        port = None
        for candidate in range(917, 1000):
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", candidate))
                except OSError:
                    continue
                port = candidate
                break
        self.assertIsNotNone(port)
        env = Env(extra_sections=f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
        try:
            server = env.start()
            self.assertEqual(metrics_port(server), port)
            self.assertEqual(curl(port)[0], 200)
            # Served from after the drop (run() starts the endpoint).
            self.assertIn(f"event=privileges user={TEST_USER} ", server.log_text())
        finally:
            env.close()

    def test_no_endpoint_without_the_section(self):
        env = Env()
        try:
            server = env.start()
            self.assertNotIn("proto=metrics", server.log_text())
        finally:
            env.close()


if __name__ == "__main__":
    run_tests()
