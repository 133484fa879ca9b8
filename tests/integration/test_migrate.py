"""`popbox migrate maildir-to-postgres` and `postgres-to-maildir` on a
throwaway PostgreSQL (pg.py): what a POP3 client sees (the UIDL list in
order, every RETR byte-exact, the seen flags) is the same before and after,
on a Maildir adopted from Dovecot, one from Courier and a plain one (CRLF
already, lone dots, a line ending in CR, no final newline, 1.5 MB). A
re-run skips everything; a run killed mid-user is completed by the next
without duplicates; --dry-run writes nothing; a maildrop a POP3 session
holds is skipped and reported; the round trip back to Maildir is exact."""

import os
import poplib
import re
import shutil
import signal
import subprocess
import time
import unittest

import pg
from harness import POPBOX, TEST_USER, Env, Server, chown_tree, run_tests, test_ids, wait_for

poplib._MAXLINE = 1 << 20  # the big message's lines are short, but be generous

PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret",
             "dave": "dave-secret"}

BIG = b"Subject: big\n\n" + b"".join(b"%05d " % i + b"x" * 70 + b"\n" for i in range(20000))
PLAIN = [  # (stored bytes, subdir, seen)
    (b"Subject: crlf\r\nFrom: a@example.com\r\n\r\nalready CRLF\r\n", "new", False),
    (b"Subject: dots\n\n.\n..\n.hidden\n. \n", "cur", True),
    (b"Subject: cr\n\nends in CR\r\r\nlone\rCR\n", "new", False),
    (b"Subject: no newline\n\nlast line", "cur", True),
    (BIG, "new", False),
]


def mail(i: int) -> bytes:
    return f"From: s{i}@example.com\nSubject: message {i}\n\nBody {i}.\n".encode()


def session(port, user):
    p = poplib.POP3("127.0.0.1", port, timeout=30)
    p.user(user)
    p.pass_(PASSWORDS[user])
    return p


def view(port, user):
    """[(UIDL, RETR octets)] in message order. The session is dropped, not
    QUIT, so that reading marks nothing seen."""
    p = session(port, user)
    try:
        out = []
        for line in p.uidl()[1]:
            num, uidl = line.decode().split()
            out.append((uidl, b"\r\n".join(p.retr(int(num))[1]) + b"\r\n"))
        return out
    finally:
        p.close()


def migrate(config, direction, *args, timeout=120):
    return subprocess.run([POPBOX, "migrate", direction, "-c", config, *args],
                          capture_output=True, text=True, timeout=timeout)


def seen_in_maildir(md):
    """UIDL-independent: the sorted seen flags of the messages' files."""
    flags = []
    for sub in ("new", "cur"):
        for name in os.listdir(os.path.join(md, sub)):
            flags.append(sub == "cur" and re.search(r":2,[A-Z]*S", name) is not None)
    return sorted(flags)


def files_below(root):
    """Every file below `root` with its size and mtime (the lock file aside)."""
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            if n != "popbox.lock":
                st = os.stat(os.path.join(d, n))
                out[os.path.join(d, n)] = (st.st_size, st.st_mtime_ns)
    return out


@unittest.skipUnless(pg.available(), "PostgreSQL is not installed")
class MigrateTest(unittest.TestCase):
    def setUp(self):
        self.pg = pg.Postgres()
        self.addCleanup(self.pg.close)
        self.env = Env(users=PASSWORDS, tls=False, extra_sections=(
            f'[store]\ndsn = "{self.pg.dsn}"\npool_size = 4\n'))
        self.addCleanup(self.env.close)
        r = subprocess.run([POPBOX, "db", "migrate", "-c", self.env.config],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        text = open(self.env.config).read()
        self.pg_config = self.variant("pg.toml", text.replace("[store]\n",
                                                              '[store]\nbackend = "postgres"\n'))
        self.back_root = os.path.join(self.env.dir, "back")
        os.makedirs(self.back_root)
        chown_tree(self.back_root)
        self.back_config = self.variant("back.toml", text.replace(
            f'maildir = "{self.env.mail_root}/', f'maildir = "{self.back_root}/'))
        self.servers = []

    def variant(self, name, text):
        path = os.path.join(self.env.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def serve(self, config):
        self.env.chown()
        s = Server(config)
        self.servers.append(s)
        self.addCleanup(s.stop)
        return s

    def sql(self, q):
        return self.pg.psql(q, db="popbox")

    def fixture(self):
        # alice: Dovecot served it (two messages listed, one came later).
        md = self.env.maildir("alice")
        self.env.deliver("alice", mail(1), name="1700000001.M1P1.host,S=40:2,S", subdir="cur")
        self.env.deliver("alice", mail(2), name="1700000002.M2P1.host,S=40")
        self.env.deliver("alice", mail(3), name="1700000003.M3P1.host,S=40")
        with open(os.path.join(md, "dovecot-uidlist"), "w") as f:
            f.write("3 V1795447793 N3 G7e3fa312f15b046b9206000083ecc375\n"
                    "1 W41 :1700000001.M1P1.host,S=40\n2 W41 :1700000002.M2P1.host,S=40\n")
        # bob: Courier pop3d served it (everything in cur/).
        names = []
        for i in range(1, 4):
            names.append(os.path.basename(self.env.deliver(
                "bob", mail(i), subdir="cur", name=f"112000000{i}.M{i}P7.courier:2,S")))
        with open(os.path.join(self.env.maildir("bob"), "courierpop3dsizelist"), "w") as f:
            f.write("/3 4 1120000000\n")
            for i, name in enumerate(names, 1):
                f.write(f"{name} {len(mail(i)) + 4} {i}:1120000000:0\n")
        # carol: plain Maildir names, the awkward shapes; dave has no Maildir.
        for data, sub, seen in PLAIN:
            name = None
            if seen:
                name = f"{int(time.time())}.M{len(data)}P9.test,S={len(data)}:2,S"
            self.env.deliver("carol", data, name=name, subdir=sub)
        self.env.chown()

    def views(self, config, users=("alice", "bob", "carol")):
        server = self.serve(config)
        try:
            return {u: view(server.pop3, u) for u in users}
        finally:
            server.stop()

    def test_round_trip(self):
        self.fixture()
        before = self.views(self.env.config)
        self.assertEqual([u for u, _ in before["alice"]],
                         ["000000016b045bf1", "000000026b045bf1", "1700000003.M3P1.host"])
        self.assertEqual([u for u, _ in before["bob"]],
                         ["UID1-1120000000", "UID2-1120000000", "UID3-1120000000"])
        self.assertGreater(len(before["carol"][4][1]), 1 << 20)
        seen_before = {u: seen_in_maildir(self.env.maildir(u)) for u in before}
        tree = files_below(self.env.mail_root)

        dry = migrate(self.env.config, "maildir-to-postgres", "--all", "--dry-run")
        self.assertEqual(dry.returncode, 0, dry.stdout + dry.stderr)
        self.assertIn("user carol: 5 messages", dry.stdout)
        self.assertIn("would be copied", dry.stdout)
        self.assertIn("user dave: nothing to copy (no Maildir at", dry.stdout)
        self.assertEqual(self.sql("SELECT count(*) FROM messages"), "0")
        self.assertEqual(self.sql("SELECT count(*) FROM mailboxes"), "0")

        r = migrate(self.env.config, "maildir-to-postgres", "--all")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("user alice: 3 messages (0.0 MB) copied, 0 skipped, 0 failed", r.stdout)
        self.assertIn("user carol: 5 messages (1.6 MB) copied, 0 skipped, 0 failed", r.stdout)
        self.assertIn("total: 4 users, 11 messages", r.stdout)
        self.assertEqual(files_below(self.env.mail_root), tree)  # the source is unchanged
        self.assertEqual(self.views(self.pg_config), before)
        for u in before:
            seen = self.sql(f"SELECT string_agg(seen::text, ',' ORDER BY seen) FROM messages m "
                            f"JOIN mailboxes b ON b.id = m.mailbox_id WHERE user_name = '{u}'")
            self.assertEqual(seen.split(","), ["true" if s else "false" for s in seen_before[u]])
        self.assertEqual(self.sql("SELECT sum(messages), sum(bytes) FROM mailboxes"),
                         self.sql("SELECT count(*), sum(size) FROM messages"))

        again = migrate(self.env.config, "maildir-to-postgres", "--all")
        self.assertEqual(again.returncode, 0, again.stdout + again.stderr)
        self.assertIn("total: 4 users, 0 messages (0.0 MB) copied, 11 skipped, 0 failed",
                      again.stdout)
        self.assertEqual(self.sql("SELECT count(*) FROM messages"), "11")

        # ...and back, into other Maildirs, for leaving PostgreSQL.
        dry = migrate(self.back_config, "postgres-to-maildir", "--all", "--dry-run")
        self.assertEqual(dry.returncode, 0, dry.stdout + dry.stderr)
        self.assertEqual(os.listdir(self.back_root), [])
        back = migrate(self.back_config, "postgres-to-maildir", "--all")
        self.assertEqual(back.returncode, 0, back.stdout + back.stderr)
        self.assertIn("user carol: 5 messages (1.6 MB) copied, 0 skipped, 0 failed", back.stdout)
        back_md = os.path.join(self.back_root, "carol", "Maildir")
        self.assertEqual(os.stat(back_md).st_uid, test_ids()[0])
        for u in before:
            self.assertEqual(seen_in_maildir(os.path.join(self.back_root, u, "Maildir")),
                             seen_before[u])
        self.assertEqual(self.views(self.back_config), before)
        again = migrate(self.back_config, "postgres-to-maildir", "--all")
        self.assertEqual(again.returncode, 0, again.stdout + again.stderr)
        self.assertIn("0 messages (0.0 MB) copied, 11 skipped, 0 failed", again.stdout)

    def test_killed_run_is_completed_by_the_next(self):
        for i in range(12):
            self.env.deliver("alice", mail(i))
        self.env.chown()
        before = self.views(self.env.config, ["alice"])
        # The 6th message's INSERT stalls: the migration is killed there.
        self.sql("CREATE FUNCTION stall() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                 "IF (SELECT count(*) FROM messages WHERE mailbox_id = NEW.mailbox_id) >= 5 "
                 "THEN PERFORM pg_sleep(600); END IF; RETURN NEW; END $$; "
                 "CREATE TRIGGER stall BEFORE INSERT ON messages FOR EACH ROW "
                 "EXECUTE FUNCTION stall()")
        run = subprocess.Popen([POPBOX, "migrate", "maildir-to-postgres", "-c", self.env.config,
                                "--user", "alice"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
        self.addCleanup(lambda: run.poll() is None and run.kill())
        wait_for(lambda: self.sql("SELECT count(*) FROM pg_stat_activity "
                                  "WHERE wait_event = 'PgSleep'") == "1",
                 timeout=60, what="the migration to reach the 6th message")
        run.send_signal(signal.SIGKILL)
        run.wait(30)
        # The stalled backend holds its transaction's locks: end it before
        # DROP TRIGGER (which would wait for them).
        self.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 "WHERE usename = 'popbox'")
        wait_for(lambda: self.sql("SELECT count(*) FROM pg_stat_activity "
                                  "WHERE usename = 'popbox'") == "0", timeout=30,
                 what="the killed run's backends to end")
        self.sql("DROP TRIGGER stall ON messages")
        self.assertEqual(self.sql("SELECT count(*) FROM messages"), "5")

        r = migrate(self.env.config, "maildir-to-postgres", "--user", "alice")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("user alice: 7 messages (0.0 MB) copied, 5 skipped, 0 failed", r.stdout)
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT uidl) FROM messages"), "12|12")
        self.assertEqual(self.sql("SELECT count(*) FROM bodies"), "12")  # none left over
        self.assertEqual(self.sql("SELECT messages FROM mailboxes"), "12")
        self.assertEqual(self.views(self.pg_config, ["alice"]), before)

    def test_in_use_is_skipped_and_reported(self):
        self.fixture()
        server = self.serve(self.env.config)
        p = session(server.pop3, "bob")
        try:
            r = migrate(self.env.config, "maildir-to-postgres", "--all")
            self.assertEqual(r.returncode, 75, r.stdout + r.stderr)  # EX_TEMPFAIL
            self.assertIn("user bob: in use, skipped", r.stdout)
            self.assertIn("user alice: 3 messages (0.0 MB) copied", r.stdout)
        finally:
            p.quit()
        server.stop()
        r = migrate(self.env.config, "maildir-to-postgres", "--all")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("user bob: 3 messages (0.0 MB) copied, 0 skipped", r.stdout)
        self.assertIn("user alice: 0 messages (0.0 MB) copied, 3 skipped", r.stdout)

        # The PostgreSQL side's lock too: a session on the maildrop there.
        pg_server = self.serve(self.pg_config)
        p = session(pg_server.pop3, "carol")
        try:
            r = migrate(self.back_config, "postgres-to-maildir", "--user", "carol")
            self.assertEqual(r.returncode, 75, r.stdout + r.stderr)
            self.assertIn("user carol: in use, skipped", r.stdout)
        finally:
            p.quit()

    def test_operator_errors(self):
        r = migrate(self.env.config, "maildir-to-postgres")
        self.assertEqual(r.returncode, 64, r.stdout + r.stderr)  # EX_USAGE
        r = migrate(os.path.join(self.env.dir, "missing.toml"), "maildir-to-postgres", "--all")
        self.assertEqual(r.returncode, 78, r.stdout + r.stderr)  # EX_CONFIG
        down = self.variant("down.toml", open(self.env.config).read().replace(
            self.pg.dsn, "host=/nonexistent port=5 dbname=popbox"))
        r = migrate(down, "maildir-to-postgres", "--all")
        self.assertEqual(r.returncode, 75, r.stdout + r.stderr)
        self.assertIn("cannot connect to PostgreSQL", r.stderr)
        self.assertNotIn("terminate", r.stderr)
        self.sql("DROP TABLE schema_version CASCADE")
        r = migrate(self.env.config, "postgres-to-maildir", "--all")
        self.assertEqual(r.returncode, 78, r.stdout + r.stderr)
        self.assertIn("popbox db migrate", r.stderr)


if __name__ == "__main__":
    run_tests()
