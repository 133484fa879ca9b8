"""popbox serve against the POP3 clients Debian ships: curl, mpop and
fetchmail, over plain POP3, STLS and POP3S, every message shape byte-exact;
and a 30 MB message that must stream (bounded server memory).

What each client changes on the way, and how the tests account for it:
- curl writes the message as received (CRLF line ends, dots unstuffed), but
  always writes the CRLF that opens the ".CRLF" terminator, so an empty
  (0-octet) message comes out as a single CRLF.
- mpop (maildir delivery) converts CRLF to LF, the local convention, and
  prepends one Received header (its `received_header` default); the tests
  check and strip that header.
- fetchmail hands the MDA LF line ends; with `set invisible` and
  `no rewrite` it adds nothing. A 0-octet message has no header, so fetchmail
  replaces it with a "Headerless mail" stub of its own.
"""

import os
import poplib
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import (CLUSTER, MESSAGES, Env, RssSampler, numbering_mda, run_tests, vm_rss_kib,
                     wire_form)

poplib._MAXLINE = 1 << 20  # the default 2048 cannot take a 6,000-octet line

NAMES = list(MESSAGES)
CLIENT_TIMEOUT = 30


def local_form(stored: bytes) -> bytes:
    """The message as a Unix client stores it: what RETR sends, with LF ends."""
    return wire_form(stored).replace(b"\r\n", b"\n")


def uidl_of(path):
    """popbox's UIDL: the Maildir base name without the ,S= size hint."""
    return os.path.basename(path).split(",")[0]


def run(cmd, env=None, timeout=CLIENT_TIMEOUT, **kw):
    return subprocess.run(cmd, capture_output=True, timeout=timeout, env=env, **kw)


def client_env(home):
    """Environment for a client: its own HOME and TMPDIR, nothing from root's."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL")}
    env.update(HOME=home, TMPDIR=home, LC_ALL="C")
    return env


def new_maildir(root):
    for d in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    return root


def maildir_files(root):
    return sorted(os.listdir(os.path.join(root, "new")) + os.listdir(os.path.join(root, "cur")))


class ClientTestBase(unittest.TestCase):
    allow_plaintext = "loopback"

    def setUp(self):
        self.env = Env(allow_plaintext=self.allow_plaintext)
        self.addCleanup(self.env.close)
        self.paths = [self.env.deliver("alice", MESSAGES[n]) for n in NAMES]
        self.server = self.env.start()
        self.tmp = tempfile.mkdtemp(prefix="popbox-client-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        os.chmod(self.tmp, 0o700)

    def server_stat(self):
        """(count, octets) of alice's maildrop, asked over POP3S."""
        ctx = ssl.create_default_context(cafile=self.env.cert)
        c = poplib.POP3_SSL("127.0.0.1", self.server.pop3s, context=ctx, timeout=10)
        c.user("alice")
        c.pass_(self.env.users["alice"])
        stat = c.stat()
        c.quit()
        return stat

    def server_maildir_files(self):
        """The files of alice's Maildir; None in cluster mode, where the mail
        is in PostgreSQL and the Maildir was only the source of its copy."""
        return None if CLUSTER else maildir_files(self.env.maildir("alice"))


@unittest.skipUnless(shutil.which("curl"), "curl is not installed (Debian package curl)")
class CurlTest(ClientTestBase):
    def curl(self, url, *args, check=True):
        p = run(["curl", "--silent", "--show-error", "--max-time", "20",
                 "--user", "alice:alice-secret", *args, url])
        if check:
            self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        return p

    @staticmethod
    def curl_form(stored):
        # curl always writes the CRLF that starts the "\r\n.\r\n" end mark,
        # which for a 0-octet message is the end of the +OK line.
        return wire_form(stored) or b"\r\n"

    def test_list_and_uidl(self):
        base = f"pop3://127.0.0.1:{self.server.pop3}/"
        out = self.curl(base).stdout
        self.assertEqual(out, b"".join(f"{i} {len(wire_form(MESSAGES[n]))}\r\n".encode()
                                       for i, n in enumerate(NAMES, 1)))
        out = self.curl(base, "--request", "UIDL").stdout
        self.assertEqual(out, b"".join(f"{i} {uidl_of(p)}\r\n".encode()
                                       for i, p in enumerate(self.paths, 1)))

    def test_plain_retr_each_message(self):
        for i, name in enumerate(NAMES, 1):
            out = self.curl(f"pop3://127.0.0.1:{self.server.pop3}/{i}").stdout
            self.assertEqual(out, self.curl_form(MESSAGES[name]), name)

    def test_pop3s_retr_each_message(self):
        for i, name in enumerate(NAMES, 1):
            out = self.curl(f"pop3s://127.0.0.1:{self.server.pop3s}/{i}",
                            "--cacert", self.env.cert).stdout
            self.assertEqual(out, self.curl_form(MESSAGES[name]), name)
        # The certificate is really checked: without the CA curl refuses (60).
        p = self.curl(f"pop3s://127.0.0.1:{self.server.pop3s}/1", check=False)
        self.assertEqual(p.returncode, 60, p.stderr)

    def test_stls_required_retr_each_message(self):
        for i, name in enumerate(NAMES, 1):
            p = self.curl(f"pop3://127.0.0.1:{self.server.pop3}/{i}", "--ssl-reqd",
                          "--cacert", self.env.cert, "--verbose")
            self.assertEqual(p.stdout, self.curl_form(MESSAGES[name]), name)
            self.assertIn(b"> STLS", p.stderr)
            self.assertIn(b"< +OK Begin TLS", p.stderr)
        # curl logs in (SASL PLAIN) only after the handshake, and the CAPA
        # it asks again inside TLS no longer offers STLS.
        before, _, after = p.stderr.partition(b"< +OK Begin TLS")
        self.assertIn(b"< STLS", before)
        self.assertNotIn(b"< STLS", after)
        self.assertNotIn(b"> AUTH", before)
        self.assertIn(b"> AUTH PLAIN", after)


@unittest.skipUnless(shutil.which("mpop"), "mpop is not installed (Debian package mpop)")
class MpopTest(ClientTestBase):
    # Only TLS sessions may send the password: a login proves TLS was used.
    allow_plaintext = "never"

    def mpop(self, name, port, starttls, keep=True):
        d = os.path.join(self.tmp, name)
        os.makedirs(d, exist_ok=True)
        md = new_maildir(os.path.join(d, "Maildir"))
        rc = os.path.join(d, "mpoprc")
        with open(rc, "w") as f:
            f.write(f"""defaults
account test
host 127.0.0.1
port {port}
user alice
password alice-secret
tls on
tls_starttls {"on" if starttls else "off"}
tls_trust_file {self.env.cert}
timeout 20
keep {"on" if keep else "off"}
delivery maildir {md}
uidls_file {d}/uidls
""")
        os.chmod(rc, 0o600)  # mpop refuses a password in a file others can read
        p = run(["mpop", "--file=" + rc, "--all-accounts"], env=client_env(d))
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        return md, p

    def delivered(self, md):
        """Messages mpop put in the Maildir, in retrieval order (Q<n> in the
        name), with mpop's Received header checked and removed."""
        names = os.listdir(os.path.join(md, "new"))
        names.sort(key=lambda n: int(re.search(r"Q(\d+)", n).group(1)))
        out = []
        for n in names:
            with open(os.path.join(md, "new", n), "rb") as f:
                data = f.read()
            m = re.match(rb"Received: from 127\.0\.0\.1 [^\n]*\n(?:\t[^\n]*\n)*", data)
            self.assertIsNotNone(m, data[:200])
            self.assertIn(b"(mpop-", m.group(0))
            self.assertIn(b"with POP3", m.group(0))
            out.append(data[m.end():])
        return out

    def check_keep(self, starttls, port):
        md, _ = self.mpop("run", port, starttls)
        self.assertEqual(self.delivered(md), [local_form(MESSAGES[n]) for n in NAMES])
        with open(os.path.join(os.path.dirname(md), "uidls"), "rb") as f:
            uidls = f.read()
        for p in self.paths:
            self.assertIn(b"\n" + uidl_of(p).encode() + b"\n", uidls)
        # Second run with the same UIDL file: nothing is new.
        _, p = self.mpop("run", port, starttls)
        self.assertEqual(len(os.listdir(os.path.join(md, "new"))), len(NAMES))
        self.assertIn(b"new: no messages", p.stdout)
        self.assertEqual(self.server_stat()[0], len(NAMES))

    def test_stls_keep_on_then_nothing_new(self):
        self.check_keep(starttls=True, port=self.server.pop3)

    def test_pop3s_keep_on_then_nothing_new(self):
        self.check_keep(starttls=False, port=self.server.pop3s)

    def test_keep_off_deletes_everything(self):
        md, _ = self.mpop("run", self.server.pop3, starttls=True, keep=False)
        self.assertEqual(self.delivered(md), [local_form(MESSAGES[n]) for n in NAMES])
        self.assertIn(self.server_maildir_files(), ([], None))
        self.assertEqual(self.server_stat(), (0, 0))


@unittest.skipUnless(shutil.which("fetchmail"), "fetchmail is not installed (Debian package fetchmail)")
class FetchmailTest(ClientTestBase):
    allow_plaintext = "never"

    def fetchmail(self, name, port, implicit_tls, keep=True):
        d = os.path.join(self.tmp, name)
        out = os.path.join(d, "out")
        os.makedirs(out, exist_ok=True)
        mda = os.path.join(d, "mda.sh")
        numbering_mda(mda, out)
        tls = "ssl" if implicit_tls else "sslproto 'tls1.2+'"  # tls1.2+ forces STLS
        rc = os.path.join(d, "fetchmailrc")
        with open(rc, "w") as f:
            f.write(f"""set no syslog
set no bouncemail
set invisible
set idfile "{d}/fetchids"
poll 127.0.0.1 service {port} protocol pop3 uidl timeout 20
  user "alice" there with password "alice-secret" is "root" here
  options {"keep" if keep else "no keep"} no rewrite {tls}
    sslcertck sslcertfile "{self.env.cert}" sslcommonname "pop.test"
  mda "{mda}"
""")
        os.chmod(rc, 0o600)  # fetchmail refuses an rc file others can read
        env = client_env(d)
        env["FETCHMAILHOME"] = d  # pid/lock file here, not in root's home
        p = run(["fetchmail", "--nodetach", "--fetchmailrc", rc, "--verbose"], env=env)
        return out, p

    def outputs(self, out):
        result = []
        for n in sorted(os.listdir(out)):
            with open(os.path.join(out, n), "rb") as f:
                result.append(f.read())
        return result

    def check_delivered(self, out, p):
        self.assertEqual(p.returncode, 0, (p.stdout + p.stderr).decode(errors="replace"))
        got = self.outputs(out)
        self.assertEqual(len(got), len(NAMES))
        for name, data in zip(NAMES, got):
            if MESSAGES[name] == b"":
                # fetchmail replaces a message without header by a stub.
                self.assertTrue(data.startswith(b"From: FETCHMAIL-DAEMON\n"), data)
                self.assertIn(b"\nSubject: Headerless mail", data)
            else:
                self.assertEqual(data, local_form(MESSAGES[name]), name)

    def check_keep(self, port, implicit_tls):
        out, p = self.fetchmail("run", port, implicit_tls)
        self.check_delivered(out, p)
        if not implicit_tls:
            self.assertIn(b"POP3> STLS", p.stderr + p.stdout)
        with open(os.path.join(self.tmp, "run", "fetchids"), "rb") as f:
            ids = f.read()
        for path in self.paths:
            self.assertIn(f"alice@127.0.0.1 {uidl_of(path)}\n".encode(), ids)
        # Second run: every UIDL is known, exit code 1 means "no mail".
        _, p = self.fetchmail("run", port, implicit_tls)
        self.assertEqual(p.returncode, 1, (p.stdout + p.stderr).decode(errors="replace"))
        self.assertEqual(len(os.listdir(out)), len(NAMES))
        # fetchmail's `keep` reads with TOP n 99999999 (no \Seen side effect):
        # nothing was deleted and nothing left new/.
        self.assertEqual(self.server_stat()[0], len(NAMES))
        if not CLUSTER:
            self.assertEqual(len(os.listdir(os.path.join(self.env.maildir("alice"), "new"))),
                             len(NAMES))

    def test_stls_keep_uidl_then_nothing_new(self):
        self.check_keep(self.server.pop3, implicit_tls=False)

    def test_pop3s_keep_uidl_then_nothing_new(self):
        self.check_keep(self.server.pop3s, implicit_tls=True)

    def test_no_keep_deletes_everything(self):
        out, p = self.fetchmail("run", self.server.pop3, implicit_tls=False, keep=False)
        self.check_delivered(out, p)
        self.assertIn(self.server_maildir_files(), ([], None))
        self.assertEqual(self.server_stat(), (0, 0))


@unittest.skipIf(CLUSTER, "measures the memory of the one server process")
class LargeMessageTest(unittest.TestCase):
    """A 30 MB message with half a million lines, a tenth of them starting
    with a dot: byte-exact, and the server never holds it in memory."""

    BODY_MB = 30
    RSS_LIMIT_KIB = 60 * 1024  # absolute, the whole server process
    RSS_GROWTH_KIB = 16 * 1024  # over the RSS after login

    @classmethod
    def setUpClass(cls):
        pattern = [b".", b"..", b".leading dot", b"...", b". "]
        text = [(b"line %06d " % i) + b"abcdefghijklmnopqrstuvwxyz" * 2 for i in range(20)]
        block = pattern + text * 5  # 105 lines, 5 of them with a leading dot
        lines = [b"Subject: big", b"X-Test: large", b""]
        size = 0
        while size < cls.BODY_MB * 1_000_000:
            lines += block
            size += sum(len(x) + 1 for x in block)
        cls.lines = lines
        cls.stored = b"\n".join(lines) + b"\n"
        cls.wire = b"\r\n".join(lines) + b"\r\n"

    def setUp(self):
        self.env = Env()
        self.addCleanup(self.env.close)
        self.env.deliver("alice", self.stored)
        self.server = self.env.start()
        self.pid = self.server.proc.pid

    def login(self, tls=False):
        if tls:
            ctx = ssl.create_default_context(cafile=self.env.cert)
            c = poplib.POP3_SSL("127.0.0.1", self.server.pop3s, context=ctx, timeout=30)
        else:
            c = poplib.POP3("127.0.0.1", self.server.pop3, timeout=30)
        c.user("alice")
        c.pass_(self.env.users["alice"])
        return c

    def test_poplib_retr_byte_exact_bounded_rss(self):
        self.check_retr(self.login())

    def test_pop3s_retr_byte_exact_bounded_rss(self):
        self.check_retr(self.login(tls=True))

    def check_retr(self, c):
        self.assertEqual(c.list(1), b"+OK 1 %d" % len(self.wire))
        base = vm_rss_kib(self.pid)
        sampler = RssSampler(self.pid)
        sampler.start()
        try:
            _, lines, octets = c.retr(1)
        finally:
            peak = sampler.stop()
        c.quit()
        self.assertEqual(octets, len(self.wire))
        self.assertTrue(lines == self.lines, "RETR of the large message differs")
        if not os.environ.get("POPBOX_SANITIZED"):  # ASan's shadow memory costs tens of MiB
            self.assertLess(peak, self.RSS_LIMIT_KIB, f"VmRSS peak {peak} KiB")
        self.assertLess(peak - base, self.RSS_GROWTH_KIB, f"VmRSS {base} -> {peak} KiB")

    def test_stalled_reader_does_not_grow_server(self):
        """A client that stops reading: the server must wait on the socket,
        not read the rest of the file into memory."""
        s = socket.create_connection(("127.0.0.1", self.server.pop3), timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        f = s.makefile("rb")
        try:
            f.readline()
            s.sendall(b"USER alice\r\nPASS alice-secret\r\n")
            f.readline()
            self.assertTrue(f.readline().startswith(b"+OK"))
            base = vm_rss_kib(self.pid)
            s.sendall(b"RETR 1\r\n")
            self.assertEqual(f.readline(), b"+OK %d octets\r\n" % len(self.wire))
            time.sleep(1.0)  # the server fills the socket buffers, then must stop
            stalled = vm_rss_kib(self.pid)
            self.assertLess(stalled - base, self.RSS_GROWTH_KIB, f"VmRSS {base} -> {stalled} KiB")
            want = b"".join(b"." + x + b"\r\n" if x.startswith(b".") else x + b"\r\n"
                            for x in self.lines) + b".\r\n"
            sampler = RssSampler(self.pid)
            sampler.start()
            try:
                got = f.read(len(want))
            finally:
                peak = sampler.stop()
            self.assertTrue(got == want, "RETR of the large message differs (dot-stuffed form)")
            self.assertLess(peak - base, self.RSS_GROWTH_KIB, f"VmRSS {base} -> {peak} KiB")
            s.sendall(b"QUIT\r\n")
            self.assertTrue(f.readline().startswith(b"+OK"))
        finally:
            f.close()
            s.close()


if __name__ == "__main__":
    run_tests()
