"""docs/DESIGN.md's limits table and src/core/limits.hpp are one truth: every
constant of the header is listed in the table, and the table names no
constant the header lacks."""

import os
import re
import unittest

from harness import SRC, run_tests


class LimitsTableTest(unittest.TestCase):
    def test_every_constant_is_in_the_design_table(self):
        with open(os.path.join(SRC, "src/core/limits.hpp")) as f:
            header = f.read()
        with open(os.path.join(SRC, "docs/DESIGN.md")) as f:
            design = f.read()
        constants = set(re.findall(r"inline constexpr [\w:<>]+ (\w+)\s*[={]", header))
        self.assertGreater(len(constants), 20)
        section = design[design.index("## Limits"):]
        section = section[:section.index("\n## ", 1)]
        table = set(re.findall(r"^\|[^|]*\|[^|]*\| `(\w+)` \|$", section, re.M))
        self.assertEqual(sorted(constants - table), [], "constants missing from DESIGN.md")
        self.assertEqual(sorted(table - constants), [], "DESIGN.md names unknown constants")


if __name__ == "__main__":
    run_tests()
