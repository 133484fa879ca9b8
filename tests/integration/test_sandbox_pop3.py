"""`popbox sandbox`, POP3 side: mail sent with smtplib is read with poplib
over POP3, STLS and POP3S (USER/PASS and AUTH PLAIN), byte-exact against
the octets sent; UIDL is stable and is the API's message id; TOP,
PIPELINING and no message cap; DELE at QUIT removes the message from the
API (and RETR marks it read); --strict-auth and API-created inboxes with a
password; every POP3 fault mode seen by a real client; --ephemeral writes
no file; mpop and fetchmail read from the sandbox."""

import base64
import http.client
import json
import os
import poplib
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import numbering_mda, run_tests
from test_sandbox_api import Sandbox, plain
from test_sandbox_smtp import no_verify


def crlf_message(subject, body_lines, to="ann@example.com"):
    """A message in wire form with dot lines in the body (RETR must stuff them)."""
    body = "".join(line + "\r\n" for line in body_lines)
    return (f"From: App <app@app.test>\r\nTo: {to}\r\nSubject: {subject}\r\n\r\n{body}").encode()


def retr_octets(lines):
    """What poplib's retr() lines were on the wire, unstuffed: the message."""
    return b"".join(line + b"\r\n" for line in lines)


class SandboxPop3Test(unittest.TestCase):
    def setUp(self):
        self.box = None

    def tearDown(self):
        if self.box and self.box.proc.poll() is None:
            self.box.stop()

    def start(self, *extra):
        self.box = Sandbox(*extra)
        return self.box

    def pop(self, user="ann@example.com", password="anything"):
        p = poplib.POP3("127.0.0.1", self.box.pop3_port, timeout=20)
        p.user(user)
        p.pass_(password)
        return p

    def inbox_id(self, address):
        return self.box.inbox(address)["id"]

    def messages(self, address):
        return self.box.json("GET", f"/api/v1/inboxes/{self.inbox_id(address)}/messages")[
            "messages"]

    def set_faults(self, address, *faults):
        self.box.json("PUT", f"/api/v1/inboxes/{self.inbox_id(address)}/faults",
                      {"faults": list(faults)}, expect=204)

    def test_retr_is_byte_exact_and_uidl_is_stable_and_the_message_id(self):
        box = self.start()
        sent = [crlf_message("one", ["hello"]),
                crlf_message("dots", [".", "..leading", ".", "end."]),
                crlf_message("long", ["x" * 900, "", "tail"])]
        for m in sent:
            box.send("app@app.test", ["ann@example.com"], m)
        p = self.pop()
        self.assertEqual(p.stat(), (3, sum(len(m) for m in sent)))
        for i, m in enumerate(sent, 1):
            resp, lines, octets = p.retr(i)
            self.assertEqual(retr_octets(lines), m)
            self.assertEqual(octets, len(m))
            self.assertEqual(p.list(i), f"+OK {i} {len(m)}".encode())
        uidls = [line.split()[1].decode() for line in p.uidl()[1]]
        p.quit()
        # The API lists newest first; POP3 numbers oldest first.
        api_ids = [m["id"] for m in reversed(self.messages("ann@example.com"))]
        self.assertEqual(uidls, api_ids)
        p = self.pop()
        self.assertEqual([line.split()[1].decode() for line in p.uidl()[1]], uidls)
        # RETR octets equal the API's raw octets.
        status, _, raw = box.request(
            "GET", f"/api/v1/inboxes/{self.inbox_id('ann@example.com')}/messages/{uidls[1]}/raw")
        self.assertEqual(status, 200)
        self.assertEqual(raw, sent[1])
        # TOP 3 0: the header and the blank line only.
        _, top, _ = p.top(3, 0)
        self.assertEqual(retr_octets(top), sent[2].split(b"\r\n\r\n")[0] + b"\r\n\r\n")
        p.quit()

    def test_raw_wire_is_dot_stuffed_and_pipelined_replies_come_in_order(self):
        box = self.start()
        m = crlf_message("dots", [".", ".x"])
        box.send("app@app.test", ["ann@example.com"], m)
        with socket.create_connection(("127.0.0.1", box.pop3_port), timeout=20) as s:
            f = s.makefile("rb")
            self.assertTrue(f.readline().startswith(b"+OK"))
            s.sendall(b"CAPA\r\n")
            caps = []
            self.assertTrue(f.readline().startswith(b"+OK"))
            while (line := f.readline()) != b".\r\n":
                caps.append(line.strip().decode())
            for cap in ("PIPELINING", "UIDL", "TOP", "STLS", "USER"):
                self.assertIn(cap, caps)
            # Everything in one write: the replies arrive in order.
            s.sendall(b"USER ann@example.com\r\nPASS x\r\nSTAT\r\nRETR 1\r\nQUIT\r\n")
            self.assertTrue(f.readline().startswith(b"+OK"))  # USER
            self.assertTrue(f.readline().startswith(b"+OK Logged in"))
            self.assertEqual(f.readline(), f"+OK 1 {len(m)}\r\n".encode())
            self.assertTrue(f.readline().startswith(b"+OK"))  # RETR
            body = b""
            while (line := f.readline()) != b".\r\n":
                body += line
            self.assertEqual(body, m.replace(b"\r\n.", b"\r\n.."))
            self.assertTrue(f.readline().startswith(b"+OK"))  # QUIT

    def test_no_message_cap(self):
        box = self.start()
        with smtplib.SMTP("127.0.0.1", box.smtp_port, timeout=20) as s:
            for i in range(120):
                s.sendmail("app@app.test", ["many@example.com"], plain(f"m{i}"))
        p = self.pop("many@example.com")
        self.assertEqual(p.stat()[0], 120)
        self.assertEqual(len(p.uidl()[1]), 120)
        p.quit()

    def test_stls_pop3s_and_auth_plain(self):
        box = self.start()
        m = crlf_message("tls", ["secret body"])
        box.send("app@app.test", ["ann@example.com"], m)
        p = poplib.POP3("127.0.0.1", box.pop3_port, timeout=20)
        p.stls(context=no_verify())
        token = base64.b64encode(b"\0ann@example.com\0whatever").decode()
        self.assertTrue(p._shortcmd("AUTH PLAIN " + token).startswith(b"+OK"))
        self.assertEqual(retr_octets(p.retr(1)[1]), m)
        p.quit()
        p = poplib.POP3_SSL("127.0.0.1", box.pop3s_port, context=no_verify(), timeout=20)
        caps = p.capa()
        self.assertIn("PLAIN", caps["SASL"])
        self.assertNotIn("STLS", caps)
        self.assertTrue(p._shortcmd("AUTH PLAIN " + token).startswith(b"+OK"))
        self.assertEqual(retr_octets(p.retr(1)[1]), m)
        p.quit()

    def test_dele_at_quit_removes_from_the_api_and_retr_marks_read(self):
        box = self.start()
        for s in ("keep", "drop"):
            box.send("app@app.test", ["ann@example.com"], plain(s))
        drop_id = self.messages("ann@example.com")[0]["id"]
        events = http.client.HTTPConnection("127.0.0.1", box.http_port, timeout=20)
        events.request("GET", "/api/v1/events")
        stream = events.getresponse()
        self.assertEqual(stream.status, 200)
        p = self.pop()
        p.retr(1)
        p.dele(2)
        # Until QUIT nothing changes.
        self.assertEqual(len(self.messages("ann@example.com")), 2)
        p.quit()
        msgs = self.messages("ann@example.com")
        self.assertEqual([m["subject"] for m in msgs], ["keep"])
        self.assertTrue(msgs[0]["read"])
        # The SSE stream tells of the deletion like any other.
        kind = data = None
        while kind != "message_deleted":
            kind = data = None
            while (line := stream.readline().decode().rstrip("\r\n")) != "":
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
        events.close()
        self.assertEqual(data["message_id"], drop_id)
        # A session that ends without QUIT deletes nothing.
        p = self.pop()
        p.dele(1)
        p.sock.close()
        time.sleep(0.3)
        self.assertEqual(len(self.messages("ann@example.com")), 1)

    def test_strict_auth_and_inbox_passwords(self):
        box = self.start("--strict-auth")
        box.json("POST", "/api/v1/inboxes", {"address": "pw@example.com", "password": "s3cret"},
                 expect=201)
        box.send("app@app.test", ["pw@example.com"], plain("for pw"), login=False)
        with self.assertRaises(poplib.error_proto) as cm:
            self.pop("pw@example.com", "wrong")
        self.assertIn(b"[AUTH]", cm.exception.args[0])
        p = self.pop("PW@example.com", "s3cret")
        self.assertEqual(p.stat()[0], 1)
        p.quit()
        # Strict: an inbox without a password of its own takes no login.
        box.send("app@app.test", ["auto@example.com"], plain("auto"), login=False)
        with self.assertRaises(poplib.error_proto):
            self.pop("auto@example.com", "anything")

    def test_api_inbox_password_without_strict_auth(self):
        box = self.start()
        box.json("POST", "/api/v1/inboxes", {"address": "pw@example.com", "password": "s3cret"},
                 expect=201)
        with self.assertRaises(poplib.error_proto):
            self.pop("pw@example.com", "wrong")
        self.pop("pw@example.com", "s3cret").quit()
        # Auto-created inboxes and addresses without one take any password.
        box.send("app@app.test", ["auto@example.com"], plain("auto"))
        self.assertEqual(self.pop("auto@example.com", "x").stat()[0], 1)
        self.assertEqual(self.pop("nobody-yet@example.com", "y").stat(), (0, 0))
        self.assertIsNone(box.inbox("nobody-yet@example.com"))

    def test_login_faults(self):
        box = self.start()
        box.send("app@app.test", ["ann@example.com"], plain("x"))
        for kind, code in (("pop3_login_temp", b"-ERR [SYS/TEMP]"),
                           ("pop3_login_in_use", b"-ERR [IN-USE]")):
            self.set_faults("ann@example.com", {"kind": kind, "probability": 1})
            with self.assertRaises(poplib.error_proto) as cm:
                self.pop()
            self.assertTrue(cm.exception.args[0].startswith(code), cm.exception.args)
        self.box.json("DELETE", f"/api/v1/inboxes/{self.inbox_id('ann@example.com')}/faults",
                      expect=204)
        self.pop().quit()

    def test_delay_fault_slows_every_reply(self):
        box = self.start()
        box.send("app@app.test", ["ann@example.com"], plain("x"))
        p = self.pop()
        t0 = time.monotonic()
        p.noop()
        self.assertLess(time.monotonic() - t0, 0.3)
        self.set_faults("ann@example.com", {"kind": "pop3_delay", "probability": 1,
                                            "delay_ms": 400})
        for cmd in (p.noop, p.stat, lambda: p.retr(1)):
            t0 = time.monotonic()
            cmd()
            self.assertGreaterEqual(time.monotonic() - t0, 0.38)
        p.quit()

    def test_drop_retr_fault_closes_after_n_octets(self):
        box = self.start()
        m = crlf_message("cut", ["0123456789" * 10])
        box.send("app@app.test", ["ann@example.com"], m)
        self.set_faults("ann@example.com", {"kind": "pop3_drop_retr", "probability": 1,
                                            "after_octets": 30})
        with socket.create_connection(("127.0.0.1", box.pop3_port), timeout=20) as s:
            f = s.makefile("rb")
            f.readline()
            s.sendall(b"USER ann@example.com\r\nPASS x\r\nRETR 1\r\n")
            f.readline()
            f.readline()
            self.assertTrue(f.readline().startswith(b"+OK"))
            self.assertEqual(f.read(), m[:30])  # then EOF
        # poplib sees the connection end; nothing was deleted, TOP is whole.
        p = self.pop()
        with self.assertRaises((poplib.error_proto, EOFError, OSError)):
            p.retr(1)
        p = self.pop()
        self.assertEqual(len(p.top(1, 0)[1]), 4)
        p.quit()
        self.assertEqual(len(self.messages("ann@example.com")), 1)

    def test_dele_fault_answers_err_and_keeps_the_message(self):
        box = self.start()
        box.send("app@app.test", ["ann@example.com"], plain("stays"))
        self.set_faults("ann@example.com", {"kind": "pop3_dele_error", "probability": 1})
        p = self.pop()
        with self.assertRaises(poplib.error_proto) as cm:
            p.dele(1)
        self.assertTrue(cm.exception.args[0].startswith(b"-ERR"))
        p.quit()
        self.assertEqual(len(self.messages("ann@example.com")), 1)

    def test_maildir_data_dir_serves_the_same_and_keeps_it_over_a_restart(self):
        tmp = tempfile.mkdtemp(prefix="popbox-sandbox-data-")
        try:
            data = os.path.join(tmp, "data")
            self.box = Sandbox(data=data)
            sent = [crlf_message("d1", ["one"]), crlf_message("d2", [".", "two"])]
            for m in sent:
                self.box.send("app@app.test", ["ann@example.com"], m)
            p = self.pop()
            self.assertEqual([retr_octets(p.retr(i)[1]) for i in (1, 2)], sent)
            uidls = p.uidl()[1]
            p.dele(1)
            p.quit()
            self.assertEqual(self.box.stop(), 0)
            self.box = Sandbox(data=data)
            p = self.pop()
            self.assertEqual(p.uidl()[1], [b"1 " + uidls[1].split()[1]])
            self.assertEqual(retr_octets(p.retr(1)[1]), sent[1])
            p.quit()
            self.assertTrue(self.messages("ann@example.com")[0]["read"])
        finally:
            if self.box and self.box.proc.poll() is None:
                self.box.stop()
            shutil.rmtree(tmp, ignore_errors=True)

    def test_ephemeral_writes_no_file(self):
        tmp = tempfile.mkdtemp(prefix="popbox-sandbox-eph-")
        try:
            env = dict(os.environ, HOME=os.path.join(tmp, "home"), TMPDIR=os.path.join(tmp, "t"),
                       XDG_DATA_HOME=os.path.join(tmp, "xdg"))
            os.makedirs(env["HOME"])
            os.makedirs(env["TMPDIR"])
            old_env = os.environ.copy()
            os.environ.update(env)
            try:
                box = self.start()
            finally:
                os.environ.clear()
                os.environ.update(old_env)
            box.send("app@app.test", ["ann@example.com"], crlf_message("mem", ["in memory"]))
            p = poplib.POP3_SSL("127.0.0.1", box.pop3s_port, context=no_verify(), timeout=20)
            p.user("ann@example.com")
            p.pass_("x")
            p.retr(1)
            p.dele(1)
            p.quit()
            self.assertEqual(self.messages("ann@example.com"), [])
            written = [os.path.join(d, f) for d, _, fs in os.walk(tmp) for f in fs]
            self.assertEqual(written, [])
            self.assertEqual(sorted(os.listdir(tmp)), ["home", "t"])
            self.assertEqual(os.listdir(env["HOME"]), [])
            self.assertEqual(box.stop(), 0)
            self.assertEqual([os.path.join(d, f) for d, _, fs in os.walk(tmp) for f in fs], [])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @unittest.skipUnless(shutil.which("mpop"), "mpop is not installed (Debian package mpop)")
    def test_mpop_reads_over_stls(self):
        tmp = tempfile.mkdtemp(prefix="popbox-sandbox-mpop-")
        try:
            box = self.start()
            # --ephemeral has no certificate file to trust: no check.
            m = crlf_message("mpop", ["from the sandbox"])
            box.send("app@app.test", ["ann@example.com"], m)
            md = os.path.join(tmp, "Maildir")
            for sub in ("new", "cur", "tmp"):
                os.makedirs(os.path.join(md, sub))
            rc = os.path.join(tmp, "mpoprc")
            with open(rc, "w") as f:
                f.write(f"""defaults
account test
host 127.0.0.1
port {box.pop3_port}
user ann@example.com
password anything
tls on
tls_starttls on
tls_certcheck off
timeout 20
keep off
received_header off
delivery maildir {md}
uidls_file {tmp}/uidls
""")
            os.chmod(rc, 0o600)
            r = subprocess.run(["mpop", "--file=" + rc, "--all-accounts"], capture_output=True,
                               timeout=60, env=dict(os.environ, HOME=tmp))
            self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
            got = [open(os.path.join(md, "new", n), "rb").read()
                   for n in os.listdir(os.path.join(md, "new"))]
            self.assertEqual(got, [m.replace(b"\r\n", b"\n")])
            self.assertEqual(self.messages("ann@example.com"), [])  # keep off: DELE + QUIT
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @unittest.skipUnless(shutil.which("fetchmail"), "fetchmail is not installed")
    def test_fetchmail_reads_over_pop3s(self):
        tmp = tempfile.mkdtemp(prefix="popbox-sandbox-fetchmail-")
        try:
            box = self.start()
            sent = [crlf_message("fm1", ["one"]), crlf_message("fm2", [".", "two"])]
            for m in sent:
                box.send("app@app.test", ["ann@example.com"], m)
            out = os.path.join(tmp, "out")
            os.makedirs(out)
            mda = os.path.join(tmp, "mda.sh")
            numbering_mda(mda, out)
            rc = os.path.join(tmp, "fetchmailrc")
            with open(rc, "w") as f:
                f.write(f"""set no syslog
set no bouncemail
set invisible
set idfile "{tmp}/fetchids"
poll 127.0.0.1 service {box.pop3s_port} protocol pop3 uidl timeout 20
  user "ann@example.com" there with password "x" is "root" here
  options no keep no rewrite ssl no sslcertck
  mda "{mda}"
""")
            os.chmod(rc, 0o600)  # fetchmail refuses an rc file others can read
            r = subprocess.run(["fetchmail", "--nodetach", "--fetchmailrc", rc],
                               capture_output=True, timeout=60,
                               env=dict(os.environ, HOME=tmp, FETCHMAILHOME=tmp))
            self.assertEqual(r.returncode, 0, (r.stdout + r.stderr).decode(errors="replace"))
            got = [open(os.path.join(out, n), "rb").read() for n in sorted(os.listdir(out))]
            self.assertEqual(got, [m.replace(b"\r\n", b"\n") for m in sent])
            self.assertEqual(self.messages("ann@example.com"), [])  # no keep: DELE + QUIT
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run_tests()
