"""A sign-up test against `popbox sandbox`: the "application" sends a
confirmation mail over SMTP, the test waits for it through the HTTP API and
follows the link in it. Standard library only; runs with
`python3 -m unittest test_signup.py` (pytest collects it too).
POPBOX_BIN names the binary (default: popbox on PATH)."""

import json
import os
import smtplib
import ssl
import subprocess
import unittest
import urllib.request
from email.message import EmailMessage

POPBOX = os.environ.get("POPBOX_BIN", "popbox")


def send_signup_mail(smtp_port, address, token):
    """Stands in for the application under test."""
    msg = EmailMessage()
    msg["From"] = "Example App <noreply@app.example>"
    msg["To"] = address
    msg["Subject"] = "Confirm your sign-up"
    msg.set_content(f"Welcome!\n\nConfirm here: https://app.example/confirm?token={token}\n")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False  # the sandbox's certificate is self-signed
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as s:
        s.starttls(context=ctx)
        s.login("noreply@app.example", "any password")
        s.send_message(msg)


class SignupTest(unittest.TestCase):
    def setUp(self):
        self.box = subprocess.Popen(
            [POPBOX, "sandbox", "--ephemeral", "--smtp", "127.0.0.1:0", "--pop3", "127.0.0.1:0",
             "--pop3s", "127.0.0.1:0", "--http", "127.0.0.1:0"],
            stdout=subprocess.PIPE, text=True)
        lines = {}
        while "http" not in lines:
            line = self.box.stdout.readline()
            if not line:
                raise RuntimeError("popbox sandbox did not start")
            kind, _, rest = line.partition(" ")
            lines[kind] = rest.strip()
        self.smtp_port = int(lines["smtp"].split()[0].rsplit(":", 1)[1])
        self.api = lines["http"] + "api/v1"

    def tearDown(self):
        self.box.terminate()
        self.box.wait(timeout=10)
        self.box.stdout.close()

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.api + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as res:
            return json.load(res)

    def test_signup_sends_a_confirmation_link(self):
        address = "new.user@example.com"
        inbox = self.call("POST", "/inboxes", {"address": address})
        send_signup_mail(self.smtp_port, address, "abc123")
        found = self.call("GET", f"/inboxes/{inbox['id']}/wait?subject=confirm&timeout=10s")
        message = self.call("GET", f"/inboxes/{inbox['id']}/messages/{found['messages'][0]['id']}")
        self.assertEqual(message["from"]["address"], "noreply@app.example")
        links = [link for link in message["links"] if "/confirm?" in link]
        self.assertEqual(links, ["https://app.example/confirm?token=abc123"])


if __name__ == "__main__":
    unittest.main()
