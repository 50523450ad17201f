"""A whole DAG of the amazon provider's AthenaOperator (sync DDL, a deferred SELECT through
AthenaTrigger and aiobotocore) against the sandbox's Athena engine; AthenaHook reads the result."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.system.dagrun import run_dag

pytestmark = [pytest.mark.system, pytest.mark.integration]


@pytest.fixture
def logical_date() -> datetime:
    """A date no earlier test run used (see test_athena_report_dag)."""
    seconds = int(datetime.now(timezone.utc).timestamp()) % (365 * 24 * 3600)
    return datetime(2024, 6, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)


def test_athena_operator_dag_creates_repairs_and_queries(airflow_db, sandbox, logical_date):
    from airflow.providers.amazon.aws.hooks.athena import AthenaHook

    ds = f"{logical_date:%Y-%m-%d}"
    next_day = f"{logical_date + timedelta(days=1):%Y-%m-%d}"
    s3 = sandbox.boto3_client("s3")
    s3.create_bucket(Bucket="raw")
    s3.create_bucket(Bucket="athena-results")
    today = b"order_id,store,amount\n1,lyon,10.5\n2,paris,3\n3,lyon,1.25\n"
    s3.put_object(Bucket="raw", Key=f"orders/day={ds}/part-0.csv", Body=today)
    s3.put_object(
        Bucket="raw", Key=f"orders/day={next_day}/part-0.csv", Body=b"order_id,store,amount\n4,nice,9\n"
    )

    result = run_dag("amazon_athena_engine", "amazon_athena_engine.py", logical_date)

    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}
    athena = sandbox.boto3_client("athena")
    executions = [
        athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        for qid in athena.list_query_executions()["QueryExecutionIds"]
    ]
    (select,) = [e for e in executions if e["Query"].startswith("SELECT")]
    assert select["Status"]["State"] == "SUCCEEDED"
    assert select["Statistics"]["DataScannedInBytes"] == len(today)  # only that day's partition
    assert sorted(e["StatementType"] for e in executions) == ["DDL", "DDL", "DDL", "DML"]

    hook = AthenaHook()
    rows = hook.get_query_results(select["QueryExecutionId"])["ResultSet"]["Rows"]
    assert [[c.get("VarCharValue") for c in r["Data"]] for r in rows] == [
        ["store", "total"],
        ["lyon", "11.75"],
        ["paris", "3.0"],
    ]
    assert hook.get_output_location(select["QueryExecutionId"]) == (
        f"s3://athena-results/amazon/{select['QueryExecutionId']}.csv"
    )
