"""docs/data-quality.md stays exact: included example code, the YAML spec, every check type documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_sales_provider.checks.spec import CHECK_TYPES

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "data-quality.md").read_text()
INCLUDES = re.findall(r"<!-- include: (\S+) (\S+) -->\n```python\n(.*?)\n```", DOC, re.S)


def test_the_page_includes_the_example():
    assert [name for _, name, _ in INCLUDES] == ["howto_data_quality", "howto_data_quality_yaml"]


@pytest.mark.parametrize(("path", "marker", "body"), INCLUDES, ids=[m for _, m, _ in INCLUDES])
def test_included_snippets_match_the_example_dag(path, marker, body):
    source = (REPO / path).read_text()
    match = re.search(rf"[ ]*# \[START {marker}\]\n(.*?)\n[ ]*# \[END {marker}\]", source, re.S)
    assert match is not None, f"no {marker} markers in {path}"
    assert match.group(1) == body


def test_yaml_spec_matches_the_file():
    shown = DOC.split("`example_data_quality.yaml`:\n\n```yaml\n", 1)[1].split("```", 1)[0]
    assert shown == (REPO / "examples" / "dags" / "example_data_quality.yaml").read_text()


@pytest.mark.parametrize("check_type", CHECK_TYPES)
def test_every_check_type_has_a_section_with_an_example(check_type):
    section = DOC.split(f"### `{check_type}`\n", 1)[1].split("\n### ", 1)[0]
    assert f"- check: {check_type}" in section
