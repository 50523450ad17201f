"""Whole DAG runs (``dag.test()``) of the Athena report: the example DAG, and a deferring one."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.integration.test_athena_report import (  # noqa: F401  (slow_queries is a fixture)
    EXPECTED_CSV,
    EXPECTED_JSONL,
    REPORTS_BUCKET,
    RESULTS_BUCKET,
    ROWS,
    queue_rows,
    report_text,
    slow_queries,
)
from tests.system.dagrun import run_dag

pytestmark = [pytest.mark.system, pytest.mark.integration]


@pytest.fixture
def logical_date() -> datetime:
    """A date no earlier test run used: on Airflow 2, dag.test() over an existing run of the same date
    deletes it first, which fails in this metadata DB (dag_run_note's foreign key to FAB's ab_user)."""
    seconds = int(datetime.now(timezone.utc).timestamp()) % (365 * 24 * 3600)
    return datetime(2024, 6, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)  # after start_date


@pytest.fixture
def buckets(sandbox):
    s3 = sandbox.boto3_client("s3")
    s3.create_bucket(Bucket=RESULTS_BUCKET)
    s3.create_bucket(Bucket=REPORTS_BUCKET)
    return s3


def test_example_dag_renders_the_sql_file_and_publishes_both_reports(
    airflow_db, sandbox, buckets, logical_date
):
    queue_rows(sandbox, ROWS)  # daily_sales_csv
    queue_rows(sandbox, ROWS)  # daily_sales_jsonl

    result = run_dag("example_athena_report", "example_athena_report.py", logical_date)
    ds = logical_date.strftime("%Y-%m-%d")

    assert result.state == "success", result.task_states
    assert result.task_states == {"daily_sales_csv": "success", "daily_sales_jsonl": "success"}
    assert report_text(sandbox, f"daily_sales/{ds}.csv") == EXPECTED_CSV
    jsonl = report_text(sandbox, f"daily_sales/{ds}.jsonl")
    assert [json.loads(line) for line in jsonl.splitlines()] == EXPECTED_JSONL

    athena = sandbox.boto3_client("athena")
    queries = {
        athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Query"]
        for qid in athena.list_query_executions()["QueryExecutionIds"]
    }
    (query,) = queries  # both tasks ran the same rendered file
    assert f"WHERE order_date = DATE '{ds}'" in query
    assert "{{" not in query
    assert query.startswith("-- Daily sales per store")


def test_deferred_dag_run_waits_in_the_trigger(
    airflow_db,
    sandbox,
    buckets,
    slow_queries,  # noqa: F811
    logical_date,
):
    slow_queries(3)  # QUEUED when the task looks, so it defers and the trigger polls it to the end
    queue_rows(sandbox, ROWS)

    result = run_dag("athena_report_deferred", "athena_report_deferred.py", logical_date)

    assert result.state == "success", result.task_states
    assert result.task_states == {"report": "success"}
    jsonl = report_text(sandbox, f"deferred/{logical_date:%Y-%m-%d}.jsonl")
    assert [json.loads(line) for line in jsonl.splitlines()] == EXPECTED_JSONL
    athena = sandbox.boto3_client("athena")
    (qid,) = athena.list_query_executions()["QueryExecutionIds"]
    execution = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
    assert execution["Status"]["State"] == "SUCCEEDED"
