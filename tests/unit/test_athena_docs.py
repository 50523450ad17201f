"""docs/athena-report.md shows the example DAG's code exactly and documents every parameter."""

from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path

from airflow_sales_provider.operators.athena_report import AthenaReportOperator

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "athena-report.md"
INCLUDE = re.compile(r"<!-- include: (\S+) (\S+) -->\n```python\n(.*?)\n```", re.S)


def test_included_snippet_matches_the_example_dag():
    includes = INCLUDE.findall(DOC.read_text())
    assert [name for _, name, _ in includes] == ["howto_athena_report"]
    for path, name, snippet in includes:
        source = (REPO / path).read_text()
        match = re.search(rf"# \[START {name}\]\n(.*?)\n\s*# \[END {name}\]", source, re.S)
        assert match, f"{name} markers missing in {path}"
        assert textwrap.dedent(snippet) == textwrap.dedent(match.group(1))


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
