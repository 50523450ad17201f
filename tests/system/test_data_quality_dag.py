"""The data-quality example DAG through a real DAG run on each Airflow line: XCom, warn vs fail, history."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from tests.system.dagrun import run_dag

pytestmark = [pytest.mark.system, pytest.mark.integration]


def read_xcom(dag_id: str, run_id: str, task_id: str, key: str) -> Any:
    """The XCom value as stored in the metadata database (JSON on both lines)."""
    from airflow.utils.session import create_session
    from sqlalchemy import text

    with create_session() as session:
        value = session.execute(
            text("SELECT value FROM xcom WHERE dag_id = :d AND run_id = :r AND task_id = :t AND key = :k"),
            {"d": dag_id, "r": run_id, "t": task_id, "k": key},
        ).scalar()
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode()
    return json.loads(value) if isinstance(value, str) else value


@pytest.fixture
def clean_example_schema(warehouse):
    with warehouse.cursor() as cursor:
        cursor.execute("DROP SCHEMA IF EXISTS example_dq CASCADE")
    yield
    with warehouse.cursor() as cursor:
        cursor.execute("DROP SCHEMA IF EXISTS example_dq CASCADE")


def test_example_dag_passes_then_fails_with_results_in_xcom(
    airflow_db, sandbox, warehouse, clean_example_schema
):
    good = run_dag(
        "example_data_quality", "example_data_quality.py", datetime(2024, 5, 1, tzinfo=timezone.utc)
    )
    assert good.state == "success", good.task_states
    assert good.task_states == {
        "load_sales": "success",
        "check_sales": "success",
        "check_sales_yaml": "success",
    }
    results = read_xcom("example_data_quality", good.run_id, "check_sales", "data_quality")
    assert results["passed"] is True
    assert results["partition"] == {"column": "sale_date", "value": "2024-05-01"}
    assert results["summary"] == {"total": 11, "passed": 11, "failed": 0, "warned": 0}
    assert read_xcom("example_data_quality", good.run_id, "check_sales", "return_value") == results
    from_yaml = read_xcom("example_data_quality", good.run_id, "check_sales_yaml", "data_quality")
    assert [c["name"] for c in from_yaml["checks"]] == [
        "row_count",
        "not_null_order_id",
        "not_null_amount",
        "distinct_count_category",
        "amount_matches_itself",
        "no_orders_in_the_future",
    ]

    bad = run_dag(
        "example_data_quality",
        "example_data_quality.py",
        datetime(2024, 5, 2, tzinfo=timezone.utc),
        run_conf={"bad_rows": 3},
    )
    assert bad.state == "failed"
    assert bad.task_states["check_sales"] == "failed", bad.task_states
    results = read_xcom("example_data_quality", bad.run_id, "check_sales", "data_quality")
    assert results["passed"] is False
    failed = {c["name"]: c["observed"] for c in results["checks"] if c["status"] == "failed"}
    assert failed == {
        "not_null_customer_id": 3,
        "unique_order_id": 3,
        "accepted_values_category": 3,
        "range_amount": {"min": -5, "max": 99},
    }
    with warehouse.cursor() as cursor:
        cursor.execute(
            "SELECT run_id, count(*), bool_and(passed) FROM example_dq.data_quality_history GROUP BY run_id "
            "ORDER BY min(checked_at)"
        )
        assert cursor.fetchall() == [(good.run_id, 11, True), (bad.run_id, 11, False)]
