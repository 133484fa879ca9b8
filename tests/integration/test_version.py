"""The version has one source: CMake's project(VERSION) and the git commit
of the tree built. `popbox --version` prints both, debian/changelog names
the same version, and cmake/version.cmake (run at every build) follows new
commits and a dirty tree, says "unknown" outside a git checkout (also in a
source tree unpacked inside someone else's checkout), takes
-DPOPBOX_GIT_COMMIT= when given, and leaves the header untouched when
nothing changed (so nothing recompiles)."""

import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import harness
from harness import run_tests

SRC = os.path.realpath(harness.SRC)
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
       "-c", "init.defaultBranch=main"]


def cmake_version():
    with open(os.path.join(SRC, "CMakeLists.txt")) as f:
        return re.search(r"^project\(popbox VERSION ([0-9.]+)", f.read(), re.M).group(1)


class VersionTest(unittest.TestCase):
    def test_version_flag_names_cmake_version_and_commit(self):
        out = subprocess.run([harness.POPBOX, "--version"], capture_output=True, text=True,
                             timeout=10, check=True).stdout
        m = re.fullmatch(r"popbox (\S+) \(git (\S+)\)\n", out)
        self.assertIsNotNone(m, out)
        self.assertEqual(m.group(1), cmake_version())
        head = subprocess.run(["git", "-C", SRC, "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            self.assertEqual(m.group(2), "unknown")
            return
        # git describe --always --abbrev=12: the commit (or tag-N-g<commit>),
        # "-dirty" when the tree had changes at build time.
        self.assertRegex(m.group(2), r"(^|-g)" + head.stdout.strip()[:12] + r"(-dirty)?$")

    def test_debian_changelog_has_the_cmake_version(self):
        with open(os.path.join(SRC, "debian/changelog")) as f:
            first = f.readline()
        self.assertEqual(re.match(r"popbox \(([^)]+)\)", first).group(1), cmake_version())


class VersionScriptTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="popbox-version-")
        self.addCleanup(shutil.rmtree, self.dir)
        self.out = os.path.join(self.dir, "out/core/version.hpp")

    def generate(self, src, commit=None):
        cmd = ["cmake", f"-DSRC={src}", f"-DIN={SRC}/src/core/version.hpp.in",
               f"-DOUT={self.out}", "-DPOPBOX_VERSION=1.2.3"]
        if commit is not None:
            cmd.append(f"-DPOPBOX_GIT_COMMIT={commit}")
        subprocess.run(cmd + ["-P", f"{SRC}/cmake/version.cmake"], check=True, timeout=60,
                       capture_output=True)
        with open(self.out) as f:
            text = f.read()
        self.assertIn('version = "1.2.3";', text)
        return re.search(r'git_commit = "([^"]*)";', text).group(1), \
            re.search(r'version_line =\s*"([^"]*)";', text).group(1)

    def git(self, repo, *args):
        return subprocess.run(GIT + ["-C", repo, *args], check=True, capture_output=True,
                              text=True, timeout=30).stdout.strip()

    def test_follows_commits_and_dirty_trees(self):
        repo = os.path.join(self.dir, "repo")
        os.makedirs(repo)
        self.git(repo, "init", "-q")
        with open(os.path.join(repo, "f"), "w") as f:
            f.write("1\n")
        self.git(repo, "add", "f")
        self.git(repo, "commit", "-qm", "one")
        first = self.git(repo, "rev-parse", "HEAD")[:12]
        self.assertEqual(self.generate(repo), (first, f"popbox 1.2.3 (git {first})"))

        mtime = os.stat(self.out).st_mtime_ns
        time.sleep(0.05)
        self.generate(repo)
        self.assertEqual(os.stat(self.out).st_mtime_ns, mtime, "rewritten with the same text")

        with open(os.path.join(repo, "f"), "w") as f:
            f.write("2\n")
        self.assertEqual(self.generate(repo)[0], f"{first}-dirty")
        self.git(repo, "commit", "-qam", "two")
        second = self.git(repo, "rev-parse", "HEAD")[:12]
        self.assertNotEqual(first, second)
        self.assertEqual(self.generate(repo)[0], second)

    def test_unknown_outside_git_and_inside_another_checkout(self):
        plain = os.path.join(self.dir, "plain")
        os.makedirs(plain)
        self.assertEqual(self.generate(plain)[0], "unknown")
        outer = os.path.join(self.dir, "outer")
        inner = os.path.join(outer, "build-pkg/popbox-1.2.3")
        os.makedirs(inner)
        self.git(outer, "init", "-q")
        self.git(outer, "commit", "-q", "--allow-empty", "-m", "outer")
        self.assertEqual(self.generate(inner)[0], "unknown")

    def test_given_commit_wins_and_is_kept_to_safe_characters(self):
        plain = os.path.join(self.dir, "plain")
        os.makedirs(plain)
        self.assertEqual(self.generate(plain, "abc123def456"),
                         ("abc123def456", "popbox 1.2.3 (git abc123def456)"))
        self.assertEqual(self.generate(plain, 'v1.0-2-gabc"; evil();//')[0],
                         "v1.0-2-gabcevil")


if __name__ == "__main__":
    run_tests()
