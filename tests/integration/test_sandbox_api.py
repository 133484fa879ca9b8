"""`popbox sandbox` end to end: mail sent with smtplib and swaks is seen
through the HTTP API (inboxes, messages, parsed parts, raw octets, wait,
SSE, webhooks with a verified HMAC, fault injection seen by the SMTP
client, retention, the API token), 2,000 concurrent waits in bounded
memory, and a start within a couple of seconds."""

import hashlib
import hmac
import http.client
import http.server
import json
import resource
import shutil
import signal
import smtplib
import socket
import subprocess
import threading
import time
import unittest
import urllib.parse
from email.message import EmailMessage

from harness import POPBOX, run_tests, vm_rss_kib, wait_for
from test_sandbox_smtp import no_verify


class Sandbox:
    """A running `popbox sandbox --ephemeral` on ephemeral SMTP and HTTP ports."""

    def __init__(self, *extra, token=None, data=None):
        self.token = token
        args = [POPBOX, "sandbox", *(["--data", data] if data else ["--ephemeral"]), "--smtp", "127.0.0.1:0", "--http",
                "127.0.0.1:0", "--pop3", "127.0.0.1:0", "--pop3s", "127.0.0.1:0", *extra]
        if token:
            args += ["--api-token", token]
        t0 = time.monotonic()
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = {}
        while "http" not in self.lines:
            line = self.proc.stdout.readline().decode()
            if not line:
                raise AssertionError("sandbox exited: " + self.proc.stderr.read().decode())
            kind, _, rest = line.partition(" ")
            self.lines[kind] = rest.strip()
        self.startup = time.monotonic() - t0
        self.smtp_port = int(self.lines["smtp"].split()[0].rsplit(":", 1)[1])
        self.pop3_port = int(self.lines["pop3"].split()[0].rsplit(":", 1)[1])
        self.pop3s_port = int(self.lines["pop3s"].split()[0].rsplit(":", 1)[1])
        url = urllib.parse.urlsplit(self.lines["http"])
        self.http_port = url.port

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=20)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc

    def request(self, method, path, body=None, token=True, timeout=30):
        """(status, headers, body bytes) of one API request."""
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)
        headers = {}
        if token and self.token:
            headers["Authorization"] = "Bearer " + self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            res = conn.getresponse()
            return res.status, dict(res.getheaders()), res.read()
        finally:
            conn.close()

    def json(self, method, path, body=None, expect=200):
        status, _, data = self.request(method, path, body)
        if status != expect:
            raise AssertionError(f"{method} {path}: {status} {data!r}")
        return json.loads(data) if data else None

    def inbox(self, address):
        for box in self.json("GET", "/api/v1/inboxes")["inboxes"]:
            if box["address"] == address:
                return box
        return None

    def send(self, sender, rcpts, msg, login=True):
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=20) as s:
            s.starttls(context=no_verify())
            if login:
                s.login(rcpts[0], "anything")
            return s.sendmail(sender, rcpts, msg)


def plain(subject, body="hello\r\n", to="ann@example.com"):
    return (f"From: App <app@app.test>\r\nTo: {to}\r\nSubject: {subject}\r\n\r\n{body}").encode()


class SandboxApiTest(unittest.TestCase):
    def setUp(self):
        self.box = None

    def tearDown(self):
        if self.box and self.box.proc.poll() is None:
            self.box.stop()

    def start(self, *extra, token=None):
        self.box = Sandbox(*extra, token=token)
        return self.box

    def test_starts_fast_and_settings_show_the_real_ports(self):
        box = self.start()
        print(f"startup to the http line: {box.startup * 1000:.0f} ms")
        self.assertLess(box.startup, 2.0)
        self.assertEqual(box.lines["http"], f"http://127.0.0.1:{box.http_port}/")
        s = box.json("GET", "/api/v1/settings")
        self.assertEqual(s["smtp"]["port"], box.smtp_port)
        self.assertEqual(s["smtp"]["host"], "127.0.0.1")
        self.assertEqual(s["pop3"], {"host": "127.0.0.1", "port": box.pop3_port, "stls": True,
                                     "auth": "any"})
        self.assertEqual(s["pop3s"], {"host": "127.0.0.1", "port": box.pop3s_port,
                                      "auth": "any"})
        status, headers, page = box.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertIn("default-src 'self'", headers["Content-Security-Policy"])
        self.assertIn(b"<", page)
        self.assertEqual(box.request("GET", "/api/v1/openapi.json")[0], 200)
        self.assertEqual(box.stop(), 0)

    def test_smtplib_message_parsed_and_raw_byte_exact(self):
        box = self.start()
        msg = EmailMessage()
        msg["From"] = "Dev Team <dev@app.test>"
        msg["To"] = "ann@example.com"
        msg["Subject"] = "Caf\u00e9 sign-up"
        msg.set_content("Hello Ann,\nconfirm: https://app.test/confirm?t=42\n")
        msg.add_alternative("<p>Hello <b>Ann</b> <a href=\"https://app.test/h\">go</a></p>",
                            subtype="html")
        msg.add_attachment(b"\x00\x01binary\xff", maintype="application",
                           subtype="octet-stream", filename="data.bin")
        raw = msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        self.assertEqual(box.send("dev@app.test", ["ann@example.com"], raw), {})
        inbox = box.inbox("ann@example.com")
        self.assertIsNotNone(inbox)
        self.assertTrue(inbox["auto_created"])
        self.assertEqual(inbox["messages"], 1)
        page = box.json("GET", f"/api/v1/inboxes/{inbox['id']}/messages")
        self.assertEqual(page["total"], 1)
        summary = page["messages"][0]
        self.assertEqual(summary["subject"], "Caf\u00e9 sign-up")
        self.assertEqual(summary["from"], {"name": "Dev Team", "address": "dev@app.test"})
        self.assertTrue(summary["has_attachments"])
        base = f"/api/v1/inboxes/{inbox['id']}/messages/{summary['id']}"
        full = box.json("GET", base)
        self.assertEqual(full["text"].replace("\r\n", "\n"),
                         "Hello Ann,\nconfirm: https://app.test/confirm?t=42\n")
        self.assertIn("<b>Ann</b>", full["html"])
        self.assertEqual(len(full["attachments"]), 1)
        self.assertEqual(full["attachments"][0]["filename"], "data.bin")
        self.assertEqual(full["attachments"][0]["size"], len(b"\x00\x01binary\xff"))
        self.assertIn("https://app.test/confirm?t=42", full["links"])
        self.assertEqual(full["envelope"]["to"], ["ann@example.com"])
        status, headers, body = box.request("GET", base + "/raw")
        self.assertEqual(status, 200)
        self.assertEqual(body, raw)
        self.assertEqual(summary["size"], len(raw))
        status, _, data = box.request("GET", base + "/attachments/0")
        self.assertEqual((status, data), (200, b"\x00\x01binary\xff"))

    def test_swaks_message_arrives(self):
        if not shutil.which("swaks"):
            self.skipTest("swaks is not installed")
        box = self.start()
        subprocess.run(["swaks", "--server", f"127.0.0.1:{box.smtp_port}", "--tls",
                        "--auth", "LOGIN", "--auth-user", "bob@example.com", "--auth-password",
                        "x", "--to", "bob@example.com", "--from", "ci@app.test",
                        "--header", "Subject: from swaks", "--body", "swaks body"],
                       check=True, capture_output=True, timeout=30)
        inbox = box.inbox("bob@example.com")
        msgs = box.json("GET", f"/api/v1/inboxes/{inbox['id']}/messages")["messages"]
        self.assertEqual([m["subject"] for m in msgs], ["from swaks"])
        self.assertIn("swaks body", msgs[0]["snippet"])

    def test_wait_returns_on_arrival_and_408_at_timeout(self):
        box = self.start()
        inbox = box.json("POST", "/api/v1/inboxes", {"address": "w@example.com"}, expect=201)
        self.assertFalse(inbox["auto_created"])
        query = urllib.parse.urlencode({"subject": "^code [0-9]+$", "timeout": "20s"})
        path = f"/api/v1/inboxes/{inbox['id']}/wait?{query}"
        got = {}

        def wait():
            got["r"] = box.request("GET", path)

        t = threading.Thread(target=wait)
        t.start()
        time.sleep(0.2)  # let the wait register (one registered late finds the message too)
        box.send("app@app.test", ["w@example.com"], plain("other"))
        box.send("app@app.test", ["w@example.com"], plain("code 1234"))
        t.join(25)
        status, _, data = got["r"]
        self.assertEqual(status, 200)
        self.assertEqual([m["subject"] for m in json.loads(data)["messages"]], ["code 1234"])
        status, _, data = box.request(
            "GET", f"/api/v1/inboxes/{inbox['id']}/wait?subject=never&timeout=300ms")
        self.assertEqual(status, 408)
        self.assertEqual(json.loads(data)["error"], "timeout")

    def test_sse_event_for_an_arrival(self):
        box = self.start()
        conn = http.client.HTTPConnection("127.0.0.1", box.http_port, timeout=20)
        conn.request("GET", "/api/v1/events")
        res = conn.getresponse()
        self.assertEqual(res.status, 200)
        self.assertTrue(res.getheader("Content-Type").startswith("text/event-stream"))
        box.send("app@app.test", ["sse@example.com"], plain("streamed"))
        event = None
        while event is None:
            kind = data = None
            while True:
                line = res.readline().decode().rstrip("\r\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                elif line == "":
                    break
            if kind == "message_received":
                event = data
        conn.close()
        self.assertEqual(event["summary"]["subject"], "streamed")
        self.assertEqual(event["inbox_id"], box.inbox("sse@example.com")["id"])

    def test_webhook_signed_with_hmac(self):
        box = self.start()
        received = []

        class Hook(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            inbox = box.json("POST", "/api/v1/inboxes", {"address": "hook@example.com"},
                             expect=201)
            url = f"http://127.0.0.1:{server.server_port}/hook"
            box.json("PUT", f"/api/v1/inboxes/{inbox['id']}/webhook",
                     {"url": url, "secret": "s3cret"}, expect=204)
            box.send("app@app.test", ["hook@example.com"], plain("hooked"))
            wait_for(lambda: received, what="webhook delivery")
            headers, body = received[0]
            want = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
            self.assertEqual(headers["X-Popbox-Signature"], want)
            self.assertEqual(headers["X-Popbox-Event"], "message_received")
            doc = json.loads(body)
            self.assertEqual(doc["message"]["subject"], "hooked")
            self.assertEqual(doc["inbox"]["id"], inbox["id"])
            wait_for(lambda: box.json("GET", f"/api/v1/inboxes/{inbox['id']}/webhook/deliveries")
                     ["deliveries"][0]["delivered"], what="delivery recorded")
        finally:
            server.shutdown()
            server.server_close()

    def test_faults_seen_by_smtplib(self):
        box = self.start()
        inbox = box.json("POST", "/api/v1/inboxes", {"address": "f@example.com"}, expect=201)
        faults = f"/api/v1/inboxes/{inbox['id']}/faults"
        box.json("PUT", faults, {"faults": [{"kind": "smtp_rcpt", "probability": 1,
                                             "smtp_code": 451}]}, expect=204)
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            box.send("app@app.test", ["f@example.com"], plain("refused"), login=False)
        self.assertEqual(cm.exception.recipients["f@example.com"][0], 451)
        box.json("PUT", faults, {"faults": [{"kind": "smtp_data", "probability": 1,
                                             "smtp_code": 554}]}, expect=204)
        with self.assertRaises(smtplib.SMTPDataError) as cm:
            box.send("app@app.test", ["f@example.com"], plain("refused"), login=False)
        self.assertEqual(cm.exception.smtp_code, 554)
        box.json("DELETE", faults, expect=204)
        box.send("app@app.test", ["f@example.com"], plain("accepted"), login=False)
        msgs = box.json("GET", f"/api/v1/inboxes/{inbox['id']}/messages")["messages"]
        self.assertEqual([m["subject"] for m in msgs], ["accepted"])

    def test_retention_drops_the_oldest(self):
        box = self.start("--max-messages", "3")
        for i in range(5):
            box.send("app@app.test", ["r@example.com"], plain(f"n{i}"))
        inbox = box.inbox("r@example.com")
        page = box.json("GET", f"/api/v1/inboxes/{inbox['id']}/messages")
        self.assertEqual(page["total"], 3)
        self.assertEqual([m["subject"] for m in page["messages"]], ["n4", "n3", "n2"])

    def test_token_required(self):
        box = self.start(token="T0ken-1")
        status, _, data = box.request("GET", "/api/v1/inboxes", token=False)
        self.assertEqual(status, 401)
        self.assertIn("error", json.loads(data))
        self.assertEqual(box.request("GET", "/api/v1/inboxes?token=T0ken-1", token=False)[0], 200)
        self.assertEqual(box.request("GET", "/api/v1/inboxes")[0], 200)
        self.assertEqual(box.request("GET", "/", token=False)[0], 200)  # the UI asks for it

    def test_2000_concurrent_waits_in_bounded_memory(self):
        n = 2000
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = n + 256
        if soft < want:
            if hard != resource.RLIM_INFINITY and hard < want:
                self.skipTest(f"RLIMIT_NOFILE hard limit {hard} < {want}")
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        box = self.start()  # inherits the raised limit
        inbox = box.json("POST", "/api/v1/inboxes", {"address": "many@example.com"}, expect=201)
        before = vm_rss_kib(box.proc.pid)
        head = (f"GET /api/v1/inboxes/{inbox['id']}/wait?subject=^go$&timeout=20s HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\n\r\n").encode()
        socks = []
        try:
            for _ in range(n):
                s = socket.create_connection(("127.0.0.1", box.http_port), timeout=25)
                s.sendall(head)
                socks.append(s)
            t0 = time.monotonic()
            # The acceptor takes connections in order: once a later request is
            # answered, every wait's connection was accepted; a wait registered
            # after the message still finds it, so this only affects the measurement.
            box.request("GET", "/api/v1/inboxes")
            time.sleep(1)
            growth = vm_rss_kib(box.proc.pid) - before
            print(f"{n} waits: VmRSS grew {growth} KiB")
            self.assertLess(growth, 64 * 1024)
            box.send("app@app.test", ["many@example.com"], plain("go"))
            answered = 0
            for s in socks:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if data.startswith(b"HTTP/1.1 200"):
                    answered += 1
            print(f"{answered} answered in {time.monotonic() - t0:.1f} s")
            self.assertEqual(answered, n)
        finally:
            for s in socks:
                s.close()


if __name__ == "__main__":
    run_tests()
