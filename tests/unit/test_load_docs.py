"""docs/redshift-load.md shows the example DAG's code exactly (include markers)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INCLUDE = re.compile(r"<!-- include: (\S+) (\S+) -->\n```python\n(.*?)\n```", re.S)


def test_included_snippets_match_the_example_dag():
    doc = (REPO / "docs" / "redshift-load.md").read_text()
    includes = INCLUDE.findall(doc)
    assert [name for _, name, _ in includes] == [
        "howto_redshift_load_replace_partition",
        "howto_redshift_load_upsert",
    ]
    for path, name, snippet in includes:
        source = (REPO / path).read_text()
        match = re.search(rf"# \[START {name}\]\n(.*?)\n\s*# \[END {name}\]", source, re.S)
        assert match, f"{name} markers missing in {path}"
        assert textwrap.dedent(snippet) == textwrap.dedent(match.group(1))
