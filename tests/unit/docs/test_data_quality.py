"""docs/data-quality.md stays exact: included example code, the YAML spec, every check type documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_sales_provider.checks.spec import CHECK_TYPES
from tests.doc_snippets import assert_page_includes

REPO = Path(__file__).resolve().parents[3]
DOC = (REPO / "docs" / "data-quality.md").read_text()


def test_the_page_includes_the_example():
    assert_page_includes("data-quality.md", ["howto_data_quality", "howto_data_quality_yaml"])


def test_yaml_spec_matches_the_file():
    shown = DOC.split("`example_data_quality.yaml`:\n\n```yaml\n", 1)[1].split("```", 1)[0]
    assert shown == (REPO / "examples" / "dags" / "example_data_quality.yaml").read_text()


@pytest.mark.parametrize("check_type", CHECK_TYPES)
def test_every_check_type_has_a_section_with_an_example(check_type):
    section = DOC.split(f"### `{check_type}`\n", 1)[1].split("\n### ", 1)[0]
    assert f"- check: {check_type}" in section
