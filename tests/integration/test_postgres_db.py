"""`popbox db migrate/status` and `popbox user --db` against a throwaway
PostgreSQL (pg.py): what an operator sees, exit codes included."""

import os
import shutil
import subprocess
import tempfile
import unittest

import pg
from harness import POPBOX, run_tests

EX_USAGE, EX_DATAERR, EX_TEMPFAIL = 64, 65, 75


def write_config(path, dsn):
    with open(path, "w") as f:
        f.write(
            '[server]\nlisten = ["127.0.0.1:0"]\n'
            f'[auth]\npasswd_file = "{os.path.dirname(path)}/users.passwd"\n'
            f'[mail]\nmaildir = "{os.path.dirname(path)}/mail/%u"\n'
            f'[store]\nbackend = "postgres"\ndsn = "{dsn}"\npool_size = 2\n'
        )


def popbox(*args, stdin=None):
    return subprocess.run([POPBOX, *args], input=stdin, capture_output=True, text=True,
                          timeout=60)


@unittest.skipUnless(pg.available(), "PostgreSQL is not installed")
class PostgresDbTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = pg.Postgres()
        cls.dir = tempfile.mkdtemp(prefix="popbox-it-pgdb-")
        cls.config = os.path.join(cls.dir, "popbox.toml")
        write_config(cls.config, cls.pg.dsn)

    @classmethod
    def tearDownClass(cls):
        cls.pg.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.pg.psql("DROP SCHEMA public CASCADE; CREATE SCHEMA public AUTHORIZATION popbox",
                     db="popbox")

    def test_status_dry_run_migrate_and_again(self):
        r = popbox("db", "status", "-c", self.config)
        self.assertEqual(r.returncode, EX_DATAERR, r.stderr)
        self.assertIn("database schema version: 0", r.stdout)
        self.assertIn("popbox db migrate", r.stdout)

        r = popbox("db", "migrate", "-c", self.config, "--dry-run")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("would apply 0001_initial", r.stdout)
        self.assertEqual(self.pg.psql("SELECT to_regclass('messages') IS NULL", db="popbox"), "t")

        r = popbox("db", "migrate", "-c", self.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("applied 0001_initial", r.stdout)
        self.assertIn("schema version 0 -> 1", r.stdout)
        self.assertEqual(self.pg.psql("SELECT version, name FROM schema_version", db="popbox"),
                         "1|initial")

        r = popbox("db", "migrate", "-c", self.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("up to date", r.stdout)
        r = popbox("db", "status", "-c", self.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("status: up to date", r.stdout)

    def test_a_newer_schema_is_refused(self):
        self.assertEqual(popbox("db", "migrate", "-c", self.config).returncode, 0)
        self.pg.psql("INSERT INTO schema_version VALUES (99, 'future')", db="popbox")
        r = popbox("db", "migrate", "-c", self.config)
        self.assertEqual(r.returncode, EX_DATAERR)
        self.assertIn("version 99, newer than this popbox's version 1", r.stderr)
        r = popbox("db", "status", "-c", self.config)
        self.assertEqual(r.returncode, EX_DATAERR)
        self.assertIn("upgrade popbox", r.stdout)

    def test_unreachable_database_is_a_temporary_failure(self):
        cfg = os.path.join(self.dir, "down.toml")
        write_config(cfg, "host=/nonexistent-popbox-dir port=1")
        r = popbox("db", "migrate", "-c", cfg)
        self.assertEqual(r.returncode, EX_TEMPFAIL)
        self.assertIn("cannot connect to PostgreSQL", r.stderr)
        r = popbox("user", "--db", "-c", cfg, "list")
        self.assertEqual(r.returncode, EX_TEMPFAIL)

    def test_user_add_passwd_list_del(self):
        self.assertEqual(popbox("db", "migrate", "-c", self.config).returncode, 0)
        r = popbox("user", "--db", "-c", self.config, "add", "alice@example.com",
                   "--password-stdin", "--extra", "userdb_quota_rule=*:storage=1M",
                   stdin="s3cret\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        row = self.pg.psql("SELECT password, extra FROM users WHERE name = 'alice@example.com'",
                           db="popbox")
        self.assertTrue(row.startswith("{ARGON2ID}$argon2id$"), row)
        self.assertTrue(row.endswith("|userdb_quota_rule=*:storage=1M"), row)
        self.assertNotIn("s3cret", row)

        r = popbox("user", "add", "--db", "-c", self.config, "alice@example.com",
                   "--password-stdin", stdin="again\n")
        self.assertEqual(r.returncode, EX_DATAERR)
        self.assertIn("already exists", r.stderr)

        r = popbox("user", "--db", "-c", self.config, "add", "sam", "--password-stdin",
                   "--scheme", "SCRAM-SHA-256", stdin="pw\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        before = self.pg.psql("SELECT password FROM users WHERE name = 'sam'", db="popbox")
        self.assertTrue(before.startswith("{SCRAM-SHA-256}4096,"), before)
        # Without --scheme a SCRAM user stays one (as with the passwd-file).
        r = popbox("user", "--db", "-c", self.config, "passwd", "sam", "--password-stdin",
                   stdin="new pw\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        after = self.pg.psql("SELECT password FROM users WHERE name = 'sam'", db="popbox")
        self.assertTrue(after.startswith("{SCRAM-SHA-256}"), after)
        self.assertNotEqual(before, after)

        r = popbox("user", "--db", "-c", self.config, "list")
        self.assertEqual(r.stdout.split(), ["alice@example.com", "sam"])
        r = popbox("user", "--db", "-c", self.config, "del", "sam")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = popbox("user", "--db", "-c", self.config, "del", "sam")
        self.assertEqual(r.returncode, EX_DATAERR)
        self.assertIn("no user sam", r.stderr)
        r = popbox("user", "--db", "-c", self.config, "passwd", "sam", "--password-stdin",
                   stdin="x\n")
        self.assertEqual(r.returncode, EX_DATAERR)
        self.assertEqual(popbox("user", "--db", "-c", self.config, "list").stdout.split(),
                         ["alice@example.com"])

    def test_file_or_db_exactly_one(self):
        r = popbox("user", "--db", "list")
        self.assertEqual(r.returncode, EX_USAGE)
        self.assertIn("--db needs -c CONFIG", r.stderr)
        r = popbox("user", "--db", "-c", self.config, "-f", "/tmp/x", "list")
        self.assertEqual(r.returncode, EX_USAGE)
        r = popbox("user", "list")
        self.assertEqual(r.returncode, EX_USAGE)


if __name__ == "__main__":
    run_tests()
