"""scripts/cluster-demo --check: README.md's two-node cluster, run exactly as
shown (PostgreSQL, db migrate, two nodes, HAProxy, LMTP in, POP3 out), so
the README cannot rot."""

import os
import shutil
import subprocess
import tempfile
import unittest

import cluster
from harness import POPBOX, SRC, free_port, run_tests


@unittest.skipIf(cluster.available() or not shutil.which("swaks") or not shutil.which("curl"),
                 "needs PostgreSQL, haproxy, swaks and curl (scripts/deps)")
class ClusterDemoTest(unittest.TestCase):
    def test_the_readme_cluster_delivers_and_serves(self):
        base = tempfile.mkdtemp(prefix="popbox-cluster-demo-")
        os.rmdir(base)  # the script makes it (and refuses a directory it did not make)
        env = dict(os.environ, BUILD_DIR=os.path.relpath(os.path.dirname(POPBOX), SRC),
                   CLUSTER_POP3=str(free_port()), CLUSTER_LMTP=str(free_port()),
                   CLUSTER_NODE_BASE=str(20000 + free_port() % 20000))
        try:
            r = subprocess.run([os.path.join(SRC, "scripts/cluster-demo"), "--check", base],
                               env=env, capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("It works.", r.stdout)
        finally:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    run_tests()
