"""Render a bad day of the daily sales pipeline for the docs: its Slack message and its check results.

Both pictures show what the provider's code makes of that day, not a mock-up of it. The checks are
``check_clean``'s and ``check_aggregates``' in ``examples/dags/daily_sales_pipeline.py``, compiled and
evaluated by ``airflow_sales_provider.checks`` on the answers the warehouse gives for the day
(``WAREHOUSE_ANSWERS``: a store exported a new category the category map does not know, so 41 % of the
day's lines were quarantined). The message is ``build_message()`` of the run summary the DAG's
``SlackNotifier(summary=True)`` posts for that run; only its drawing (Slack's look, emoji as icons) is
ours. Needs Playwright and Debian's chromium (``/usr/bin/chromium``)::

    .venv/af3/bin/python docs/img/render_run_summary.py

writes ``docs/img/slack-run-summary.png`` and ``docs/img/data-quality-results.png``.
"""

from __future__ import annotations

import decimal
import html
import importlib.util
import os
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCHEMA = "sales"  # the sandbox's value of the sales_pipeline Variable's "schema"
DAY = "2024-03-02"
# The run started 01:00 UTC the next day and failed 4 min 12 s later, at the first failed check.
RUN_START = datetime(2024, 3, 3, 1, 0, 3, tzinfo=timezone.utc)
RUN_SECONDS = 252.4

# What each query of the day returns, by check name: the shared scan's columns by role, and the scalar
# of a check's own query under "own". 1,843 clean lines of 3,152 (1,309 quarantined: unknown category).
WAREHOUSE_ANSWERS: dict[str, dict[str, dict[str, Any]]] = {
    "check_clean": {
        "row_count": {"rows": 1843},
        "order_line_key_unique": {"own": 0},
        "not_null_order_id": {"rows": 1843, "non_null": 1843},
        "not_null_store_id": {"rows": 1843, "non_null": 1843},
        "not_null_category": {"rows": 1843, "non_null": 1843},
        "not_null_amount": {"rows": 1843, "non_null": 1843},
        "range_amount": {"min": decimal.Decimal("0.45")},
        "relationships_store_id": {"orphans": 0},  # part of the scan (the parent left-joined)
        "quarantined_share_pct": {"own": decimal.Decimal("41.5291878172588832")},
        "freshness_loaded_at": {
            "latest": datetime(2024, 3, 3, 1, 2, 41, tzinfo=timezone.utc),
            "age_seconds": decimal.Decimal("92.1"),
        },
    },
    "check_aggregates": {
        "unique_store_id": {"own": 0},
        "not_null_revenue": {"rows": 12, "non_null": 12},
        "not_null_orders": {"rows": 12, "non_null": 12},
        "not_null_units": {"rows": 12, "non_null": 12},
        "relationships_store_id": {"orphans": 0},  # part of the scan (the parent left-joined)
        "revenue_matches_clean_lines": {
            "value": decimal.Decimal("21377.40"),
            "own": decimal.Decimal("21377.40"),
        },
        "daily_revenue_change": {"value": decimal.Decimal("21377.40")},
    },
}
# The last 7 passing days' revenue, newest first (read from the history table by the `change` check).
REVENUE_HISTORY = [46210.85, 44872.10, 51903.33, 49120.75, 45388.60, 43950.20, 47711.95]


def load_dag() -> Any:
    spec = importlib.util.spec_from_file_location(
        "daily_sales_pipeline", REPO / "examples/dags/daily_sales_pipeline.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rendered(value: Any, module: Any) -> Any:
    """The templates the checks use, as Airflow renders them for the day in the sandbox."""
    from airflow_sales_provider.sql.identifiers import quote_identifier

    if isinstance(value, str):
        value = value.replace(module.QUOTED_SCHEMA, quote_identifier(SCHEMA))
        return value.replace(module.SCHEMA, SCHEMA).replace("{{ ds }}", DAY)
    if isinstance(value, dict):
        return {k: rendered(v, module) for k, v in value.items()}
    if isinstance(value, list):
        return [rendered(v, module) for v in value]
    return value


def check_results(module: Any, task_id: str) -> dict[str, Any]:
    """The ``data_quality`` XCom the task pushes for the day (the operator's own steps, minus the I/O)."""
    from airflow_sales_provider.checks import compile_checks, evaluate, parse_partition, parse_spec, summarize
    from airflow_sales_provider.sql.dialects import dialect_for_checks
    from airflow_sales_provider.sql.identifiers import parse_qualified

    task = module.dag.get_task(task_id)
    schema, table = parse_qualified(rendered(task.table, module), "table")
    partition = parse_partition(rendered(task.partition, module))
    checks = parse_spec(rendered(task.checks, module), history=True)
    plan = compile_checks(table, checks, dialect_for_checks("postgres"), partition, schema=schema)
    answers = WAREHOUSE_ANSWERS[task_id]
    by_alias = {
        alias: answers[item.check.name][role]
        for item in plan.checks
        for role, alias in item.scan_columns.items()
    }
    scan_row = [by_alias[alias] for alias in plan.scan_aliases]
    own = {name: values["own"] for name, values in answers.items() if "own" in values}
    baselines = {c.name: REVENUE_HISTORY for c in checks if c.type == "change"}
    results = evaluate(plan, scan_row, own, baselines=baselines)
    return summarize(f"{schema}.{table}", partition, results)


def run_summary(module: Any, dq: dict[str, dict[str, Any]]) -> Any:
    """What ``SlackNotifier(summary=True)`` collects when the run fails at ``check_clean``."""
    from airflow_sales_provider.notifications.run_state import dag_run_url
    from airflow_sales_provider.notifications.slack import FAILED_STATES
    from airflow_sales_provider.notifications.slack_message import RunSummary, TaskOutcome, parse_data_quality

    dag = module.dag
    failed = {"check_clean"}
    upstream_failed = {t.task_id for t in dag.get_task("check_clean").get_flat_relatives(upstream=False)}
    outcomes = [  # a task that never ran has try number 0
        TaskOutcome(t, "upstream_failed", 0)
        if t in upstream_failed
        else TaskOutcome(t, "failed" if t in failed else "success", 1)
        for t in sorted(dag.task_ids)
    ]
    run_id = f"scheduled__{DAY}T01:00:00+00:00"
    reports = [parse_data_quality(task_id, dq[task_id]) for task_id in sorted(dq)]
    return RunSummary(
        status="failed",
        dag_id=dag.dag_id,
        run_id=run_id,
        logical_date=datetime.fromisoformat(f"{DAY}T01:00:00+00:00"),
        duration=RUN_SECONDS,
        url=dag_run_url(dag.dag_id, run_id),
        reason="task_failure",
        failed_tasks=tuple(o for o in outcomes if o.state in FAILED_STATES),
        data_quality=tuple(r for r in reports if r is not None),
    )


# -- drawing ---------------------------------------------------------------------------------------------
# Emoji as small SVG icons: the machine has no colour emoji font; unknown names stay ":name:", as in Slack.
EMOJI = {
    "x": '<path d="M4 4 L16 16 M16 4 L4 16" stroke="#dd2e44" stroke-width="3.4" stroke-linecap="round"/>',
    "warning": '<path d="M10 1.5 L19 18 H1 Z" fill="#ffcc4d" stroke="#c89a1b" stroke-width="0.8"'
    ' stroke-linejoin="round"/><rect x="9" y="6.5" width="2" height="6.5" rx="1" fill="#231f20"/>'
    '<circle cx="10" cy="15.3" r="1.2" fill="#231f20"/>',
    "white_check_mark": '<rect x="1" y="1" width="18" height="18" rx="4" fill="#77b255"/>'
    '<path d="M5 10.5 L8.5 14 L15 6.5" stroke="#fff" stroke-width="2.6" fill="none"'
    ' stroke-linecap="round" stroke-linejoin="round"/>',
}


def emoji(text: str) -> str:
    def icon(match: re.Match[str]) -> str:
        body = EMOJI.get(match.group(1))
        if body is None:
            return match.group(0)
        return f'<svg class="emoji" viewBox="0 0 20 20" aria-label=":{match.group(1)}:">{body}</svg>'

    return re.sub(r":([a-z0-9_+-]+):", icon, text)


def mrkdwn(text: str) -> str:
    """Slack mrkdwn (already ``&<>``-escaped by the builder) as HTML: code, bold, italic, emoji, lines."""
    out = []
    for part in re.split(r"(```.*?```|`[^`\n]*`)", text, flags=re.S):
        if part.startswith("```") and part.endswith("```") and len(part) >= 6:
            out.append(f"<pre>{part[3:-3]}</pre>")
        elif part.startswith("`") and part.endswith("`") and len(part) >= 2:
            out.append(f"<code>{part[1:-1]}</code>")
        else:
            part = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<b>\1</b>", part)
            part = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"<i>\1</i>", part)
            out.append(emoji(part).replace("\n", "<br>"))
    return "".join(out)


def text_object(obj: dict[str, Any]) -> str:
    if obj.get("type") == "mrkdwn":
        return mrkdwn(obj["text"])
    return emoji(html.escape(obj["text"]))


def block_html(block: dict[str, Any]) -> str:
    kind = block["type"]
    if kind == "header":
        return f'<div class="header">{text_object(block["text"])}</div>'
    if kind == "section":
        parts = []
        if "text" in block:
            parts.append(f'<div class="text">{text_object(block["text"])}</div>')
        if block.get("fields"):
            cells = "".join(f"<div>{text_object(f)}</div>" for f in block["fields"])
            parts.append(f'<div class="fields">{cells}</div>')
        return f'<div class="section">{"".join(parts)}</div>'
    if kind == "context":
        return '<div class="context">' + " ".join(text_object(e) for e in block["elements"]) + "</div>"
    if kind == "actions":
        buttons = "".join(f'<span class="button">{text_object(e["text"])}</span>' for e in block["elements"])
        return f'<div class="actions">{buttons}</div>'
    if kind == "divider":
        return "<hr>"
    raise ValueError(f"no drawing for block type {kind!r}")


STYLE = """
body { margin: 0; background: #fff; font-family: "Liberation Sans", Arial, sans-serif; color: #1d1c1d; }
.emoji { width: 1.15em; height: 1.15em; vertical-align: -0.2em; margin: 0 0.1em; }
.message { display: flex; gap: 8px; padding: 14px 20px 16px; width: 720px; }
.avatar { flex: none; width: 36px; height: 36px; border-radius: 6px; background: #4a154b; color: #fff;
  font-weight: bold; font-size: 15px; display: flex; align-items: center; justify-content: center; }
.meta { font-size: 15px; line-height: 22px; }
.meta b { font-weight: 900; }
.app { font-size: 10px; font-weight: bold; color: #616061; background: #e8e8e8; border-radius: 2px;
  padding: 1px 3px; margin: 0 4px; vertical-align: 1px; }
.time { color: #616061; font-size: 12px; }
.header { font-size: 18px; font-weight: 900; line-height: 1.33; margin: 4px 0 6px; }
.section { font-size: 15px; line-height: 1.46668; margin: 8px 0; }
.fields { display: grid; grid-template-columns: 1fr 1fr; column-gap: 16px; row-gap: 8px; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; color: #e01e5a; background: #f8f8f8;
  border: 1px solid #dddddd; border-radius: 3px; padding: 1px 3px; }
pre { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; background: #f8f8f8;
  border: 1px solid #dddddd; border-radius: 4px; padding: 8px; margin: 4px 0; white-space: pre-wrap; }
.actions { margin-top: 10px; }
.button { display: inline-block; font-size: 15px; font-weight: bold; border: 1px solid #bbbabb;
  border-radius: 4px; padding: 4px 12px; }
table { border-collapse: collapse; font-size: 14px; margin: 0 0 22px; width: 100%;
  table-layout: fixed; }
caption { text-align: left; font-weight: bold; padding: 0 0 8px; font-size: 15px; }
th { text-align: left; background: #f0f1f5; border-bottom: 2px solid #c9cbd6; padding: 6px 12px; }
td { border-bottom: 1px solid #e4e5ea; padding: 6px 12px; vertical-align: baseline; }
td.mono { font-family: "DejaVu Sans Mono", monospace; font-size: 12.5px; }
.status { display: inline-block; font-size: 12px; font-weight: bold; border-radius: 10px; padding: 2px 9px; }
.passed { background: #dcf3dc; color: #1f6b1f; } .failed { background: #fbdada; color: #a31515; }
.warned { background: #fff0c2; color: #7a5300; }
.tables { padding: 18px 20px 0; width: 1240px; }
"""


def slack_page(message: dict[str, Any]) -> str:
    blocks = "".join(block_html(b) for b in message["blocks"])
    time = RUN_START + timedelta(seconds=RUN_SECONDS)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><style>{STYLE}</style></head><body>"
        '<div class="message"><div class="avatar">S</div><div>'
        f'<div class="meta"><b>Sales pipeline</b><span class="app">APP</span>'
        f'<span class="time">{time:%H:%M}</span></div>{blocks}</div></div></body></html>'
    )


def results_table(summary: dict[str, Any], task_id: str) -> str:
    """One task's results, the columns of the log table (``format_table``) with the same values."""
    from airflow_sales_provider.checks.results import show

    counts = summary["summary"]
    partition = summary["partition"]
    where = f" ({partition['column']} = {partition['value']})" if partition else ""
    caption = (
        f"{task_id}: {summary['table']}{where} — {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['warned']} warned of {counts['total']} checks"
    )
    rows = "".join(
        f'<tr><td><span class="status {c["status"]}">{c["status"].upper()}</span></td>'
        f'<td class="mono">{html.escape(c["name"])}</td><td>{html.escape(c["check"])}</td>'
        f"<td>{html.escape(c['column'] or '')}</td><td class='mono'>{html.escape(show(c['observed']))}</td>"
        f"<td>{html.escape(str(c['expected']))}</td></tr>"
        for c in summary["checks"]
    )
    columns = {"status": 8, "name": 19, "check": 9, "column": 10, "observed": 29, "expected": 25}  # % width
    head = "".join(f'<th style="width: {width}%">{name}</th>' for name, width in columns.items())
    return f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>{rows}</table>"


def screenshot(page_html: str, selector: str, target: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900}, device_scale_factor=2)
            page.set_content(page_html)
            page.locator(selector).screenshot(path=str(target))
        finally:
            browser.close()
    print(target, file=sys.stderr)


def main() -> None:
    os.environ.setdefault("AIRFLOW__API__BASE_URL", "http://localhost:8080")
    os.environ.setdefault("AIRFLOW__WEBSERVER__BASE_URL", "http://localhost:8080")
    from airflow_sales_provider.notifications.slack_message import build_message

    module = load_dag()
    dq = {task_id: check_results(module, task_id) for task_id in WAREHOUSE_ANSWERS}
    message = build_message(run_summary(module, dq))
    screenshot(slack_page(message), ".message", HERE / "slack-run-summary.png")
    tables = "".join(results_table(dq[task_id], task_id) for task_id in WAREHOUSE_ANSWERS)
    page_html = (
        f"<!doctype html><html><head><meta charset='utf-8'><style>{STYLE}</style></head>"
        f'<body><div class="tables">{tables}</div></body></html>'
    )
    screenshot(page_html, ".tables", HERE / "data-quality-results.png")


if __name__ == "__main__":
    main()
