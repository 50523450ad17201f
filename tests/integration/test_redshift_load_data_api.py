"""The Redshift Data API path against moto's redshift-data (moto server): deferral, re-attach, cancel.

moto's redshift-data keeps every statement STARTED until it is cancelled and has no
BatchExecuteStatement, so these tests cover what it can show: a retry re-attaches to the statement an
earlier try submitted (no second submission), the trigger polls it from the triggerer without blocking,
``on_kill`` cancels it, and an aborted statement fails the task with its id. The batch SQL itself is
checked exactly and parsed with sqlglot in ``tests/unit/sql/test_load.py``.
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_sales_provider.compat import TaskDeferred
from airflow_sales_provider.operators.redshift_load import LoadError, RedshiftLoadOperator
from airflow_sales_provider.triggers.redshift_data import RedshiftLoadTrigger

pytestmark = pytest.mark.integration

BUCKET = "sales-raw"
ROLE = "arn:aws:iam::123456789012:role/loader"
TARGET = {"database": "dev", "cluster_identifier": "sales-cluster"}
MARKER = "_sales_load/statements/sales_load=load=scheduled__2024-03-01.json"


def context() -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="sales_load", run_id="scheduled__2024-03-01", try_number=2, task_id="load")
    return {"ti": ti, "run_id": ti.run_id}


def operator(**kwargs: Any) -> RedshiftLoadOperator:
    return RedshiftLoadOperator(
        **{
            "task_id": "load",
            "table": "sales",
            "schema": "analytics",
            "s3_bucket": BUCKET,
            "s3_prefix": "in/",
            "columns": ["sale_id", "amount"],
            "method": "data_api",
            "data_api_kwargs": TARGET,
            "iam_role_arn": ROLE,
            "poll_interval": 0.2,
            **kwargs,
        }
    )


@pytest.fixture
def aws(sandbox, monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # moto answers an unknown action with HTTP 500: fail fast
    s3 = sandbox.boto3_client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="in/a.csv", Body=b"sale_id,amount\n1,2\n")
    return SimpleNamespace(s3=s3, rsd=sandbox.boto3_client("redshift-data"))


def earlier_try(aws) -> str:
    """What an earlier try left behind: a submitted statement and its marker in S3."""
    statement_id = aws.rsd.execute_statement(
        Sql="SELECT 1", **{"Database": "dev", "ClusterIdentifier": "sales-cluster"}
    )["Id"]
    meta = {
        "table": "analytics.sales",
        "mode": "append",
        "statement_id": statement_id,
        "rows_loaded": None,
        "mode_statement": 4,
    }
    aws.s3.put_object(
        Bucket=BUCKET, Key=MARKER, Body=json.dumps({"statement_id": statement_id, "meta": meta}).encode()
    )
    return statement_id


def run_trigger(trigger: RedshiftLoadTrigger, timeout: float) -> Any:
    async def first_event() -> Any:
        return await asyncio.wait_for(trigger.run().__anext__(), timeout)

    return asyncio.run(first_event())


def test_a_retry_reattaches_and_defers_on_the_same_statement(aws):
    statement_id = earlier_try(aws)
    op = operator(deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, RedshiftLoadTrigger)
    assert trigger.statement_id == statement_id  # no second submission (moto would have refused the batch)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.kwargs["meta"]["statement_id"] == statement_id

    # The triggerer polls without blocking: the statement is still running after a few polls.
    with pytest.raises(asyncio.TimeoutError):
        run_trigger(trigger, timeout=1.0)

    op.on_kill()  # the operator cancels what it started
    assert aws.rsd.describe_statement(Id=statement_id)["Status"] == "ABORTED"
    event = run_trigger(trigger, timeout=10).payload
    assert event["status"] == "error" and event["state"] == "ABORTED"
    with pytest.raises(LoadError, match=f"statement {statement_id}, ABORTED"):
        op.execute_complete(context(), event, deferred.value.kwargs["meta"])


def test_a_retry_waits_synchronously_when_not_deferrable(aws):
    statement_id = earlier_try(aws)
    op = operator(deferrable=False)
    client = op.data_api.conn
    describe = client.describe_statement
    looks: list[str] = []

    def describe_then_cancel(**kwargs: Any) -> Any:
        # The statement ends only after the operator has seen it running (a fixed timer raced the
        # operator's first look on a busy machine).
        description = describe(**kwargs)
        looks.append(description["Status"])
        if len(looks) == 1:
            aws.rsd.cancel_statement(Id=statement_id)
        return description

    client.describe_statement = describe_then_cancel
    with pytest.raises(LoadError, match=f"statement {statement_id}, ABORTED"):
        op.execute(context())
    assert looks[0] != "ABORTED" and looks[-1] == "ABORTED"  # it re-attached, then waited


def test_an_aborted_earlier_statement_is_resubmitted_with_a_new_manifest(aws):
    statement_id = earlier_try(aws)
    aws.rsd.cancel_statement(Id=statement_id)
    # the new submission reaches moto, which has no BatchExecuteStatement (HTTP 500)
    with pytest.raises(
        LoadError, match="did not accept the load into analytics.sales.*BatchExecuteStatement"
    ):
        operator(deferrable=True, ledger=False).execute(context())
    keys = [o["Key"] for o in aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="_sales_load/")["Contents"]]
    assert keys == ["_sales_load/manifests/sales_load=load=scheduled__2024-03-01.manifest"]  # marker gone
    manifest = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read())
    assert manifest["entries"] == [
        {"url": f"s3://{BUCKET}/in/a.csv", "mandatory": True, "meta": {"content_length": 19}}
    ]


def test_the_trigger_reports_a_statement_it_cannot_describe(aws):
    event = run_trigger(
        RedshiftLoadTrigger("00000000-0000-0000-0000-000000000000", poll_interval=0.1), 10
    ).payload
    assert event["status"] == "error" and "could not describe" in event["message"]


def test_data_api_needs_a_target_and_columns(aws):
    with pytest.raises(ValueError, match="data_api_kwargs with 'database'"):
        operator(data_api_kwargs={"database": "dev"}).execute(context())
    with pytest.raises(ValueError, match="needs columns"):
        operator(columns=None).execute(context())
