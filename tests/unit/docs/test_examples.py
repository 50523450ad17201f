"""Example pages show the DAGs' code exactly (include markers); every picture in the docs exists."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
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


PNG = b"\x89PNG\r\n\x1a\n"
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def test_every_picture_a_page_shows_exists():
    shown = {
        (page.relative_to(REPO / "docs"), link)
        for page in (REPO / "docs").rglob("*.md")
        for link in IMAGE.findall(page.read_text())
    }
    assert {"img/daily-sales-pipeline.png", "img/slack-run-summary.png", "img/data-quality-results.png"} <= {
        link for _, link in shown
    }
    for page, link in shown:
        assert (REPO / "docs" / page).parent.joinpath(link).read_bytes()[:8] == PNG, f"{page}: {link}"


@pytest.mark.parametrize(
    ("page", "picture"),
    [
        ("daily-sales-pipeline.md", "img/daily-sales-pipeline.png"),
        ("slack.md", "img/slack-run-summary.png"),
        ("data-quality.md", "img/data-quality-results.png"),
    ],
)
def test_page_shows_its_picture(page, picture):
    assert picture in IMAGE.findall((REPO / "docs" / page).read_text())


def test_the_pictured_bad_day_is_what_the_code_makes_of_it():
    """The Slack and results pictures show these outcomes; a change to the DAG's checks must redraw them."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "render_run_summary", REPO / "docs/img/render_run_summary.py"
    )
    assert spec is not None and spec.loader is not None
    renderer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(renderer)
    dag_module = renderer.load_dag()
    dq = {task_id: renderer.check_results(dag_module, task_id) for task_id in renderer.WAREHOUSE_ANSWERS}
    problems = {
        task_id: {c["name"]: c["status"] for c in summary["checks"] if c["status"] != "passed"}
        for task_id, summary in dq.items()
    }
    assert problems == {
        "check_clean": {"quarantined_share_pct": "failed"},
        "check_aggregates": {"daily_revenue_change": "warned"},
    }

    from airflow_sales_provider.notifications.slack_message import build_message

    page = renderer.slack_page(build_message(renderer.run_summary(dag_module, dq)))
    for shown in (
        "Failed: daily_sales_pipeline",
        "quarantined_share_pct",
        "daily_revenue_change",
        "report_csv",
    ):
        assert shown in page
