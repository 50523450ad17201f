"""docs/slack.md stays exact: snippets are the example DAG's, the sample JSON is what the code builds."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_sales_provider.notifications.slack_message import (
    RunSummary,
    TaskOutcome,
    build_message,
    parse_data_quality,
)
from tests.doc_snippets import assert_page_includes

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "slack.md"


def sample_summary() -> RunSummary:
    """The failed ``sales_daily`` run shown in the docs."""
    report = parse_data_quality(
        "check_sales",
        {
            "table": "public.sales",
            "checks": [
                {"name": "sales_not_empty", "check": "row_count", "observed": 120, "expected": ">= 1",
                 "passed": True, "severity": "fail", "status": "passed"},
                {"name": "amount_not_null", "check": "not_null", "column": "amount", "observed": 4,
                 "expected": "<= 0", "passed": False, "severity": "fail", "status": "failed"},
                {"name": "store_in_range", "check": "range", "column": "store_id", "observed": {"max": 1200},
                 "expected": {"max": 1000}, "passed": False, "severity": "warn", "status": "warned"},
            ],
        },
    )  # fmt: skip
    assert report is not None
    return RunSummary(
        status="failed",
        dag_id="sales_daily",
        run_id="scheduled__2024-03-01T00:00:00+00:00",
        logical_date=datetime(2024, 3, 1, tzinfo=timezone.utc),
        reason="task_failure",
        duration=754.2,
        url="https://airflow.example.com/dags/sales_daily/runs/scheduled__2024-03-01T00%3A00%3A00%2B00%3A00",
        failed_tasks=(
            TaskOutcome("load_sales", "failed", 3),
            TaskOutcome("publish_report", "upstream_failed", 0),
        ),
        retried_tasks=(TaskOutcome("wait_for_files", "success", 2),),
        data_quality=(report,),
    )


def test_doc_includes_match_the_example_dag():
    assert_page_includes(
        "slack.md",
        ["howto_slack_notifier_summary", "howto_slack_notifier_task", "howto_slack_notify_operator"],
    )


def test_doc_sample_message_is_what_the_builder_makes():
    doc = DOC.read_text()
    match = re.search(r"<!-- sample-message -->\n```json\n(.*?)\n```", doc, re.S)
    assert match, "docs/slack.md lost its sample message"
    assert json.loads(match.group(1)) == build_message(sample_summary())


@pytest.mark.parametrize(
    "name", ["SlackNotifier", "SlackNotifyOperator", "sales_slack_webhook", "summary=True"]
)
def test_doc_names_the_public_api(name):
    assert name in DOC.read_text()
