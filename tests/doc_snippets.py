"""The one checker for docs that include example code by marker.

A page writes ``<!-- include: examples/dags/x.py howto_name -->`` followed by a python code block; the
block must be the code between ``# [START howto_name]`` and ``# [END howto_name]`` in that file (compared
dedented: the page shows the code without the indentation of the DAG's ``with`` block).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
INCLUDE = re.compile(r"<!-- include: (\S+) (\S+) -->\n```python\n(.*?)\n```", re.S)


class Include(NamedTuple):
    page: str
    path: str
    marker: str
    snippet: str


def doc_includes(page: str) -> list[Include]:
    """The includes of ``docs/<page>``, in page order."""
    text = (REPO / "docs" / page).read_text()
    return [Include(page, path, marker, snippet) for path, marker, snippet in INCLUDE.findall(text)]


def all_doc_includes() -> list[Include]:
    return [inc for doc in sorted((REPO / "docs").glob("*.md")) for inc in doc_includes(doc.name)]


def marked_code(path: str, marker: str) -> str:
    """The code between a file's ``# [START marker]`` and ``# [END marker]`` lines."""
    source = (REPO / path).read_text()
    match = re.search(rf"[ \t]*# \[START {marker}\]\n(.*?)\n[ \t]*# \[END {marker}\]", source, re.S)
    assert match is not None, f"{path} has no [START {marker}] / [END {marker}]"
    return match.group(1)


def assert_include_matches(include: Include) -> None:
    expected = textwrap.dedent(marked_code(include.path, include.marker)).rstrip("\n")
    assert textwrap.dedent(include.snippet).rstrip("\n") == expected, (
        f"docs/{include.page} shows {include.marker} differently from {include.path}"
    )


def assert_page_includes(page: str, markers: list[str]) -> None:
    """``docs/<page>`` includes exactly ``markers`` (in order), each the example's current code."""
    includes = doc_includes(page)
    assert [inc.marker for inc in includes] == markers
    for include in includes:
        assert_include_matches(include)
