"""popbox(1) and popbox.toml(5): the build makes them from docs/man/*.scd,
man renders them without a warning, apropos can index them, and popbox(1)
describes every verb, sub-verb, flag and argument the binary has (walked
through `--help`, so a verb added to the code but not to the page fails
here). The config keys are checked by tests/unit/config_man_keys_test.cpp."""

import os
import re
import subprocess
import unittest

from harness import POPBOX, SRC, run_tests

# Where the build writes the pages: build/man next to build/popbox.
MAN_DIR = os.environ.get("POPBOX_MAN_DIR",
                         os.path.join(os.path.dirname(os.path.abspath(POPBOX)), "man"))
PAGES = ["popbox.1", "popbox.toml.5"]
RENDER_ENV = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MANPAGER="cat", PAGER="cat")


def built(page):
    return os.path.join(MAN_DIR, page)


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, timeout=60, **kw)


def flat_text(page):
    """The page as plain text with one line per paragraph (no wrapping, no
    hyphenation, no bold or underline), so options are found whole."""
    r = run(["groff", "-man", "-Tutf8", "-rLL=2000n", "-rHY=0",
             "-P-c", "-P-b", "-P-o", "-P-u", built(page)])
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def parse_help(text):
    """(options, subcommands, positionals) of one CLI11 --help screen."""
    options, subcommands, positionals = [], [], []
    section = None
    for line in text.splitlines():
        if line in ("Options:", "Subcommands:", "Positionals:"):
            section = line
            continue
        m = re.match(r"  (\S+)", line)  # an entry; descriptions are indented further
        if not m or section is None:
            continue
        if section == "Options:":
            options += [n for n in m.group(1).split(",") if n.startswith("-")]
        elif section == "Subcommands:":
            subcommands.append(m.group(1))
        else:
            positionals.append(m.group(1))
    return options, subcommands, positionals


def walk_cli(path=()):
    """Yields (path, options, positionals) for popbox and every sub-verb."""
    r = run([POPBOX, *path, "--help"])
    assert r.returncode == 0, (path, r.stderr)
    options, subcommands, positionals = parse_help(r.stdout.decode())
    yield path, options, positionals
    for sub in subcommands:
        yield from walk_cli(path + (sub,))


def page_blocks(text):
    """popbox(1) cut at its headings: [(section, subsection or None, text)]."""
    blocks = [("", None, "")]
    for line in text.splitlines():
        if re.fullmatch(r"[A-Z][A-Z ]*", line):
            blocks.append((line, None, ""))
        elif re.match(r"   \S", line):  # a subsection heading
            blocks.append((blocks[-1][0], line.strip(), ""))
        else:
            section, sub, body = blocks[-1]
            blocks[-1] = (section, sub, body + line + "\n")
    return blocks


def mentions(text, word):
    return re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", text) is not None


def verb_text(blocks, name):
    """The text describing `name` ("popbox fetch import"): its subsection
    (or the subsection of its only sub-verb, "popbox mailbox stat"), else
    the subsection of the nearest parent verb that names it; plus the
    introduction of the section it is in (options shared by its verbs)."""
    def with_intro(block):
        intro = [b for b in blocks if b[0] == block[0] and b[1] is None]
        return block[1] + "\n" + block[2] + "".join(b[2] for b in intro)

    for block in blocks:
        if block[1] == name:
            return with_intro(block)
    for block in blocks:
        if block[1] and block[1].startswith(name + " "):
            return with_intro(block)
    words = name.split()
    for n in range(len(words) - 1, 1, -1):
        parent = " ".join(words[:n])
        for block in blocks:
            if block[1] == parent and mentions(block[2], name.split()[-1]) and name in block[2]:
                return with_intro(block)
    return None


class ManPagesTest(unittest.TestCase):
    def test_the_build_made_both_pages_from_their_sources(self):
        for page in PAGES:
            with self.subTest(page=page):
                self.assertTrue(os.path.isfile(built(page)), f"the build did not make {built(page)}")
                with open(os.path.join(SRC, "docs/man", page + ".scd"), "rb") as src:
                    fresh = run(["scdoc"], stdin=src)
                self.assertEqual(fresh.returncode, 0, fresh.stderr)
                with open(built(page), "rb") as f:
                    made = f.read()

                def undated(roff):  # .TH carries the build date
                    return [l for l in roff.splitlines() if not l.startswith(b".TH ")]
                self.assertTrue(undated(made) == undated(fresh.stdout),
                                f"{built(page)} is not its source's scdoc output: rebuild")

    def test_the_pages_name_the_version_of_the_binary(self):
        r = run([POPBOX, "--version"])
        version = re.search(r"\d+\.\d+\.\d+", r.stdout.decode()).group()
        for page in PAGES:
            with self.subTest(page=page):
                with open(built(page)) as f:
                    title = next(l for l in f if l.startswith(".TH "))
                self.assertIn(f'"popbox {version}"', title)

    def test_man_renders_both_pages_without_a_warning(self):
        for page in PAGES:
            with self.subTest(page=page):
                # As lintian looks at pages: every man and groff warning.
                r = run(["man", "--warnings=all", "-E", "UTF-8", "-l", "-Tutf8", "-Z",
                         built(page)], env=RENDER_ENV)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stderr.decode(), "")
                r = run(["groff", "-man", "-wall", "-z", built(page)])
                self.assertEqual((r.returncode, r.stderr.decode()), (0, ""))
                r = run(["man", "-l", built(page)], env=RENDER_ENV)
                self.assertEqual((r.returncode, r.stderr.decode()), (0, ""))
                text = re.sub(r".\x08", "", r.stdout.decode())
                lines = text.splitlines()
                for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "FILES", "SEE ALSO"):
                    self.assertIn(heading, lines)
                self.assertIn("EXIT STATUS" if page == "popbox.1" else "EXAMPLE", lines)
                # Nothing runs past the 80 columns it was set for.
                self.assertEqual([l for l in lines if len(l) > 80], [])

    def test_apropos_can_index_the_name_lines(self):
        want = {"popbox.1": '"popbox - POP3 and LMTP server',
                "popbox.toml.5": '"popbox.toml - configuration file'}
        for page, start in want.items():
            with self.subTest(page=page):
                r = run(["lexgrog", built(page)])
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn(start, r.stdout.decode())

    def test_popbox_1_describes_every_verb_flag_and_argument(self):
        text = flat_text("popbox.1")
        blocks = page_blocks(text)
        seen = list(walk_cli())
        verbs = [" ".join(path) for path, _, _ in seen if path]
        # The walk really reads the help screens (a CLI11 format change must
        # not make this test pass on nothing).
        for verb in ("serve", "check", "deliver", "user add", "user list", "fetch import",
                     "fetch check", "uidl import", "bench"):
            self.assertIn(verb, verbs)
        self.assertIn("--accept-new-uidls", dict((p, o) for p, o, _ in seen)[("fetch",)])
        problems = []
        for path, options, positionals in seen:
            if not path:  # popbox itself: --help and --version
                for flag in options:
                    if not mentions(text, flag):
                        problems.append(f"popbox {flag}")
                continue
            name = "popbox " + " ".join(path)
            block = verb_text(blocks, name)
            if block is None:
                problems.append(f"{name}: no subsection")
                continue
            for flag in options:
                if flag in ("-h", "--help"):
                    continue  # every verb's, said once in GLOBAL OPTIONS
                if not mentions(block, flag):
                    problems.append(f"{name} {flag}")
            for arg in positionals:
                if not mentions(block, arg.upper()):
                    problems.append(f"{name} {arg.upper()}")
        self.assertEqual(problems, [], "in the code but not in popbox(1)")
        self.assertTrue(mentions(text, "-h") and mentions(text, "--help"))

    def test_popbox_1_shows_every_verb_in_its_synopsis(self):
        lines = flat_text("popbox.1").splitlines()
        synopsis = "\n".join(lines[lines.index("SYNOPSIS"):lines.index("DESCRIPTION")])
        for path, _, _ in walk_cli():
            if path and path[0] != "user":  # user's sub-verbs share two lines
                name = "popbox " + " ".join(path)
                self.assertIn(name, synopsis)
            elif path:
                self.assertIn(path[-1], synopsis)

    def test_popbox_toml_5_has_every_section(self):
        text = flat_text("popbox.toml.5")
        headings = set(re.findall(r"^\[([a-z.]+)\]$", text, re.M))
        self.assertEqual(headings, {"server", "tls", "auth", "auth.oauth", "mail", "lmtp",
                                    "limits", "quota", "deliver", "admin", "metrics", "log", "store"})


if __name__ == "__main__":
    run_tests()
