"""docs/athena-report.md shows the example DAG's code exactly and documents every parameter."""

from __future__ import annotations

import inspect
from pathlib import Path

from airflow_sales_provider.operators.athena_report import AthenaReportOperator
from tests.doc_snippets import assert_page_includes

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "athena-report.md"


def test_included_snippet_matches_the_example_dag():
    assert_page_includes("athena-report.md", ["howto_athena_report"])


def test_every_parameter_is_in_the_docs_table_and_the_docstring():
    doc = DOC.read_text()
    params = [
        name
        for name, p in inspect.signature(AthenaReportOperator.__init__).parameters.items()
        if name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    assert params, "no parameters found"
    for name in params:
        assert f"| `{name}`" in doc, f"{name} missing from the parameter table"
        assert f":param {name}:" in (AthenaReportOperator.__doc__ or ""), f"{name} missing from the docstring"
    for name in AthenaReportOperator.template_fields:
        assert f"| `{name}` (templated)" in doc, f"{name} is templated but the table does not say so"
