"""The example pipelines' pages show the DAGs' code exactly (include markers) and their graph pictures."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INCLUDE = re.compile(r"<!-- include: (\S+) (\S+) -->\n```python\n(.*?)\n```", re.S)
PAGES = {
    "example-daily-sales-glue-emr.md": ["howto_daily_sales_glue_emr_glue", "howto_daily_sales_glue_emr_emr"],
    "example-sparkify.md": ["howto_sparkify_load_dimension", "howto_sparkify_stage", "howto_sparkify_checks"],
    "example-databricks-notebook.md": ["howto_databricks_notebook_daily"],
}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_includes_match_the_dag_and_its_picture_exists(page):
    doc = (REPO / "docs" / page).read_text()
    includes = INCLUDE.findall(doc)
    assert [name for _, name, _ in includes] == PAGES[page]
    for path, name, snippet in includes:
        source = (REPO / path).read_text()
        match = re.search(rf"# \[START {name}\]\n(.*?)\n\s*# \[END {name}\]", source, re.S)
        assert match, f"{name} markers missing in {path}"
        assert textwrap.dedent(snippet) == textwrap.dedent(match.group(1))
    (picture,) = re.findall(r"!\[[^\]]*\]\((img/[^)]+\.png)\)", doc)
    assert (REPO / "docs" / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert page in (REPO / "docs" / "index.md").read_text()
