"""AthenaReportOperator against the sandbox's AWS endpoint (boto3 and aiobotocore over HTTP).

Athena's answers come from the sandbox's engine. Where a test is about Athena's behaviour — a
FAILED query and its reason, DataScannedInBytes against the cost guard, ClientRequestToken
re-attachment, cancellation — the query really runs over the ``orders_table`` fixture. The publishing
tests queue canned rows (``queue_rows``, moto's static-results API, which the engine honours) because
they are about the report's format and size, which need exact rows and many of them rather than a
query. moto's manual state progression (``slow_queries``) holds a query QUEUED for a number of polls,
so the tests can make the task defer without timing anything.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_sales_provider.compat import AirflowException, AirflowFailException, TaskDeferred
from airflow_sales_provider.operators.athena_report import AthenaReportOperator
from airflow_sales_provider.reports.athena import client_request_token
from airflow_sales_provider.triggers.athena import AthenaReportTrigger

pytestmark = pytest.mark.integration

RESULTS_BUCKET = "athena-results"
REPORTS_BUCKET = "reports"
OUTPUT_LOCATION = f"s3://{RESULTS_BUCKET}/queries/"
RUN_ID = "scheduled__2024-03-01T00:00:00+00:00"
SQL = "SELECT order_id, city, note FROM sales.orders WHERE order_date = DATE '2024-03-01'"

# Header + rows as Athena returns them; None is SQL NULL (no VarCharValue), "" an empty string.
ROWS: list[list[Any]] = [
    ["order_id", "city", "note"],
    ["1", "Lyon, FR", "first"],
    ["2", None, ""],
    ["3", "Paris", "two\nlines"],
]
EXPECTED_CSV = '"order_id","city","note"\n"1","Lyon, FR","first"\n"2",,""\n"3","Paris","two\nlines"\n'
EXPECTED_JSONL = [
    {"order_id": "1", "city": "Lyon, FR", "note": "first"},
    {"order_id": "2", "city": None, "note": ""},
    {"order_id": "3", "city": "Paris", "note": "two\nlines"},
]


# --- helpers --------------------------------------------------------------------------------------------


def moto_post(sandbox, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{sandbox.aws_endpoint_url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def queue_rows(sandbox, rows: list[list[Any]]) -> None:
    """moto's static-results API, with NULLs kept (the sandbox helper turns None into '')."""
    result = {"rows": [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows]}
    moto_post(
        sandbox,
        "/moto-api/static/athena/query-results",
        {"account_id": "123456789012", "region": "us-east-1", "results": [result]},
    )


@pytest.fixture
def athena(sandbox):
    """Buckets plus one queued result; yields a plain boto3 Athena client to inspect moto's state."""
    s3 = sandbox.boto3_client("s3")
    s3.create_bucket(Bucket=RESULTS_BUCKET)
    s3.create_bucket(Bucket=REPORTS_BUCKET)
    queue_rows(sandbox, ROWS)
    return sandbox.boto3_client("athena")


@pytest.fixture
def slow_queries(sandbox):
    """Make moto's queries advance one state (QUEUED -> RUNNING -> SUCCEEDED) every ``times`` polls."""

    def set_polls_per_state(times: int) -> None:
        moto_post(
            sandbox,
            "/moto-api/state-manager/set-transition",
            {"model_name": "athena::execution", "transition": {"progression": "manual", "times": times}},
        )

    yield set_polls_per_state
    moto_post(sandbox, "/moto-api/state-manager/unset-transition", {"model_name": "athena::execution"})


def report_text(sandbox, key: str) -> str:
    return sandbox.boto3_client("s3").get_object(Bucket=REPORTS_BUCKET, Key=key)["Body"].read().decode()


def moto_state(athena, query_execution_id: str) -> str:
    # A fresh client outside the hook: the server's own state, never a rewritten response.
    return athena.get_query_execution(QueryExecutionId=query_execution_id)["QueryExecution"]["Status"][
        "State"
    ]


def make_op(**kwargs: Any) -> AthenaReportOperator:
    params: dict[str, Any] = {
        "task_id": "daily_sales",
        "sql": SQL,
        "database": "sales",
        "output_location": OUTPUT_LOCATION,
        "report_s3_uri": f"s3://{REPORTS_BUCKET}/daily_sales/2024-03-01.csv",
        "poll_interval": 0.05,
    }
    params.update(kwargs)
    return AthenaReportOperator(**params)


def context() -> dict[str, Any]:
    return {"run_id": RUN_ID, "ti": SimpleNamespace(map_index=-1)}


async def first_event(trigger: AthenaReportTrigger) -> Any:
    async for event in trigger.run():
        return event
    raise AssertionError("the trigger ended without an event")


def run_trigger(trigger: AthenaReportTrigger) -> dict[str, Any]:
    """Rebuild the trigger from its serialized form (as the triggerer does), run it to its event."""
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_sales_provider.triggers.athena.AthenaReportTrigger"
    rebuilt = AthenaReportTrigger(**kwargs)
    event = asyncio.run(asyncio.wait_for(first_event(rebuilt), timeout=30))
    return event.payload


def defer(op: AthenaReportOperator) -> AthenaReportTrigger:
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context())
    assert deferred.value.method_name == "execute_complete"
    trigger = deferred.value.trigger
    assert isinstance(trigger, AthenaReportTrigger)
    return trigger


ORDERS_OF_THE_DAY = [
    {"order_id": 1, "city": "Lyon, FR", "note": "first"},
    {"order_id": 2, "city": None, "note": ""},
    {"order_id": 3, "city": "Paris", "note": "two\nlines"},
]


@pytest.fixture
def orders_table(sandbox) -> int:
    """The table the report's SQL reads, with ROWS as the rows of 2024-03-01 (JSON lines, one partition
    per day); returns the bytes of that day's object, which is what the query scans."""
    s3 = sandbox.boto3_client("s3")
    for bucket in (RESULTS_BUCKET, REPORTS_BUCKET, "raw"):
        s3.create_bucket(Bucket=bucket)
    day = "".join(json.dumps(row) + "\n" for row in ORDERS_OF_THE_DAY).encode()
    other_day = json.dumps({"order_id": 4, "city": "Nice", "note": "next day"}).encode() + b"\n"
    s3.put_object(Bucket="raw", Key="orders/order_date=2024-03-01/part-0.json", Body=day)
    s3.put_object(Bucket="raw", Key="orders/order_date=2024-03-02/part-0.json", Body=other_day)
    sandbox.athena.create_table_from_s3(
        "sales",
        "orders",
        "s3://raw/orders/",
        {"order_id": "int", "city": "string", "note": "string"},
        format="json",
        partitioned_by={"order_date": "date"},
    )
    return len(day)


class TokenRecorder:
    """Records the ClientRequestToken each StartQueryExecution sends (observes, changes nothing)."""

    def __init__(self) -> None:
        self.tokens_sent: list[str] = []

    def remember(self, params: dict[str, Any], **kwargs: Any) -> None:
        self.tokens_sent.append(params.get("ClientRequestToken"))

    def install(self, op: AthenaReportOperator) -> None:
        op.hook.get_conn().meta.events.register(
            "before-parameter-build.athena.StartQueryExecution", self.remember
        )


# --- success ----------------------------------------------------------------------------------------------


class TestPublish:
    def test_csv_report_is_athenas_result_object(self, sandbox, athena):
        op = make_op()
        result = op.execute(context())

        (query_execution_id,) = athena.list_query_executions()["QueryExecutionIds"]
        assert result == {
            "query_execution_id": query_execution_id,
            "report_s3_uri": "s3://reports/daily_sales/2024-03-01.csv",
            "row_count": 3,
            "bytes_scanned": 0,
            "engine_execution_time_ms": 0,
        }
        assert report_text(sandbox, "daily_sales/2024-03-01.csv") == EXPECTED_CSV
        head = sandbox.boto3_client("s3").head_object(Bucket=REPORTS_BUCKET, Key="daily_sales/2024-03-01.csv")
        assert head["ContentType"] == "text/csv"
        execution = athena.get_query_execution(QueryExecutionId=query_execution_id)["QueryExecution"]
        assert execution["Query"] == SQL
        assert execution["QueryExecutionContext"] == {"Catalog": "AwsDataCatalog", "Database": "sales"}

    def test_jsonl_report_streams_one_object_per_row(self, sandbox, athena):
        op = make_op(report_format="jsonl", report_s3_uri="s3://reports/daily_sales/2024-03-01.jsonl")
        result = op.execute(context())

        assert result["row_count"] == 3
        text = report_text(sandbox, "daily_sales/2024-03-01.jsonl")
        assert [json.loads(line) for line in text.splitlines(keepends=False)] == EXPECTED_JSONL
        assert text.endswith("\n")

    def test_large_reports_are_multipart_in_both_formats(self, sandbox, athena):
        rows = [["id", "payload"]] + [[str(i), "x" * 300] for i in range(30_000)]  # ~9.4 MB of CSV
        sandbox.reset_aws()
        s3 = sandbox.boto3_client("s3")
        s3.create_bucket(Bucket=RESULTS_BUCKET)
        s3.create_bucket(Bucket=REPORTS_BUCKET)
        queue_rows(sandbox, rows)
        queue_rows(sandbox, rows)

        jsonl = make_op(report_format="jsonl", report_s3_uri="s3://reports/big.jsonl").execute(context())
        csv = make_op(report_s3_uri="s3://reports/big.csv").execute(context())

        assert jsonl["row_count"] == csv["row_count"] == 30_000
        # S3 marks a multipart object's ETag "<md5>-<parts>": 5 MiB JSON Lines parts, and the managed
        # server-side copy (UploadPartCopy, 8 MiB parts) of the CSV above its 8 MiB threshold.
        assert s3.head_object(Bucket=REPORTS_BUCKET, Key="big.jsonl")["ETag"].strip('"').endswith("-2")
        assert s3.head_object(Bucket=REPORTS_BUCKET, Key="big.csv")["ETag"].strip('"').endswith("-2")
        assert s3.list_multipart_uploads(Bucket=REPORTS_BUCKET).get("Uploads", []) == []
        lines = report_text(sandbox, "big.jsonl").splitlines()
        assert len(lines) == 30_000
        assert json.loads(lines[-1]) == {"id": "29999", "payload": "x" * 300}
        source = s3.get_object(Bucket=RESULTS_BUCKET, Key=f"queries/{csv['query_execution_id']}.csv")
        assert report_text(sandbox, "big.csv") == source["Body"].read().decode()

    @pytest.mark.parametrize("report_format", ["csv", "jsonl"])
    def test_deferred_path_ends_like_the_sync_path(self, sandbox, athena, slow_queries, report_format):
        slow_queries(2)  # still QUEUED when execute() looks, so the task defers
        uri = f"s3://reports/daily_sales/2024-03-01.{report_format}"
        op = make_op(deferrable=True, report_format=report_format, report_s3_uri=uri)

        trigger = defer(op)
        event = run_trigger(trigger)
        assert event["status"] == "success"
        result = op.execute_complete(context(), event)

        (query_execution_id,) = athena.list_query_executions()["QueryExecutionIds"]
        assert trigger.query_execution_id == query_execution_id
        assert result["query_execution_id"] == query_execution_id
        assert result["row_count"] == 3
        text = report_text(sandbox, f"daily_sales/2024-03-01.{report_format}")
        if report_format == "csv":
            assert text == EXPECTED_CSV
        else:
            assert [json.loads(line) for line in text.splitlines()] == EXPECTED_JSONL

    def test_sync_path_waits_through_queued_and_running(self, sandbox, athena, slow_queries):
        slow_queries(2)
        result = make_op().execute(context())
        assert result["row_count"] == 3
        assert moto_state(athena, result["query_execution_id"]) == "SUCCEEDED"


# --- durability -------------------------------------------------------------------------------------------


class TestRetry:
    def test_retry_sends_the_same_token_and_reattaches_to_the_same_execution(
        self, sandbox, orders_table, slow_queries
    ):
        slow_queries(3)
        recorder = TokenRecorder()
        # Try 1 starts the query and defers; then its worker is lost (the trigger never reports back).
        first_try = make_op(deferrable=True)
        recorder.install(first_try)
        first_trigger = defer(first_try)

        second_try = make_op()  # the retry: a fresh operator in a fresh worker, same task instance
        recorder.install(second_try)
        result = second_try.execute(context())

        expected_token = client_request_token(first_try.dag_id, "daily_sales", RUN_ID, SQL)
        assert recorder.tokens_sent == [expected_token, expected_token]
        assert result["query_execution_id"] == first_trigger.query_execution_id
        athena = sandbox.boto3_client("athena")
        assert athena.list_query_executions()["QueryExecutionIds"] == [result["query_execution_id"]]
        assert report_text(sandbox, "daily_sales/2024-03-01.csv") == EXPECTED_CSV
        assert result["bytes_scanned"] == orders_table

    def test_changed_sql_is_a_new_query(self, sandbox, orders_table):
        recorder = TokenRecorder()
        first = make_op()
        recorder.install(first)
        first_id = first.execute(context())["query_execution_id"]
        second = make_op(sql=SQL + " LIMIT 10")
        recorder.install(second)
        second_id = second.execute(context())["query_execution_id"]

        assert len(set(recorder.tokens_sent)) == 2
        assert first_id != second_id

    def test_retry_after_a_cancelled_execution_starts_a_new_one(self, sandbox, orders_table, slow_queries):
        slow_queries(1000)
        athena = sandbox.boto3_client("athena")
        recorder = TokenRecorder()
        first_try = make_op(deferrable=True)
        recorder.install(first_try)
        cancelled_id = defer(first_try).query_execution_id
        athena.stop_query_execution(QueryExecutionId=cancelled_id)  # e.g. stopped from the console

        slow_queries(1)
        second_try = make_op()
        recorder.install(second_try)
        result = second_try.execute(context())

        assert result["query_execution_id"] != cancelled_id
        assert moto_state(athena, cancelled_id) == "CANCELLED"
        assert len(recorder.tokens_sent) == 3  # try 1; try 2 re-attaches to it, then the next token
        assert recorder.tokens_sent[0] == recorder.tokens_sent[1] != recorder.tokens_sent[2]
        assert report_text(sandbox, "daily_sales/2024-03-01.csv") == EXPECTED_CSV


# --- failures ---------------------------------------------------------------------------------------------


class TestFailures:
    def test_failed_query_reports_the_reason_and_id(self, sandbox, orders_table):
        op = make_op(sql="SELECT nope FROM sales.orders")
        with pytest.raises(AirflowException) as raised:
            op.execute(context())

        (query_execution_id,) = sandbox.boto3_client("athena").list_query_executions()["QueryExecutionIds"]
        assert str(raised.value) == (
            f"Athena query {query_execution_id} ended FAILED: "
            "COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved"
        )
        assert sandbox.boto3_client("s3").list_objects_v2(Bucket=REPORTS_BUCKET).get("KeyCount") == 0

    def test_failed_query_reports_the_reason_and_id_deferred(self, sandbox, orders_table, slow_queries):
        slow_queries(2)
        op = make_op(deferrable=True, sql="SELECT order_id\nFROM sales.returns")
        trigger = defer(op)
        event = run_trigger(trigger)

        assert event["status"] == "failed"
        with pytest.raises(AirflowException) as raised:
            op.execute_complete(context(), event)
        assert str(raised.value) == (
            f"Athena query {trigger.query_execution_id} ended FAILED: "
            "TABLE_NOT_FOUND: line 2:6: Table 'awsdatacatalog.sales.returns' does not exist"
        )

    def test_a_failure_mid_stream_leaves_no_partial_report(self, sandbox, athena):
        from airflow_sales_provider.hooks.athena import _upload_lines

        s3 = sandbox.boto3_client("s3")

        def lines_then_failure():
            for i in range(40_000):  # ~6 MB: the first 5 MiB part is uploaded before the failure
                yield json.dumps({"id": i, "pad": "y" * 140}) + "\n"
            raise ConnectionResetError("source stream broke")

        with pytest.raises(ConnectionResetError):
            _upload_lines(s3, REPORTS_BUCKET, "partial.jsonl", lines_then_failure(), 5 * 1024 * 1024)

        assert s3.list_objects_v2(Bucket=REPORTS_BUCKET).get("KeyCount") == 0
        assert s3.list_multipart_uploads(Bucket=REPORTS_BUCKET).get("Uploads", []) == []

    def test_cancelled_query_fails_the_task_sync(self, sandbox, athena, slow_queries):
        slow_queries(1000)
        op = make_op()
        stopper = threading.Thread(target=stop_when_started, args=(op, athena))
        stopper.start()
        with pytest.raises(AirflowException, match=r"Athena query [0-9a-f-]{36} ended CANCELLED") as raised:
            op.execute(context())
        stopper.join()
        assert op.query_execution_id in str(raised.value)

    def test_cancelled_query_fails_the_task_deferred(self, sandbox, athena, slow_queries):
        slow_queries(1000)
        op = make_op(deferrable=True)
        trigger = defer(op)
        athena.stop_query_execution(QueryExecutionId=trigger.query_execution_id)

        event = run_trigger(trigger)
        assert event["status"] == "failed"
        with pytest.raises(
            AirflowException, match=f"Athena query {trigger.query_execution_id} ended CANCELLED"
        ):
            op.execute_complete(context(), event)

    def test_trigger_error_event_fails_the_task(self, sandbox, athena):
        # Athena answers an unknown query id with InvalidRequestException (HTTP 400, not retried).
        trigger = AthenaReportTrigger(query_execution_id="q-1", poll_interval=0.05)
        event = asyncio.run(asyncio.wait_for(first_event(trigger), timeout=30)).payload
        assert event["status"] == "error"
        assert "GetQueryExecution" in event["message"]
        with pytest.raises(
            AirflowException,
            match="Waiting for Athena query q-1 failed: InvalidRequestException: .*QueryExecution q-1",
        ):
            make_op().execute_complete(context(), event)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            pytest.param(
                {"report_format": "parquet"}, "report_format must be one of csv, jsonl", id="format"
            ),
            pytest.param({"report_s3_uri": "s3://reports/daily/"}, "report_s3_uri must look like", id="uri"),
            pytest.param({"sql": "  "}, "sql rendered to an empty query", id="sql"),
            pytest.param({"max_bytes_scanned": 0}, "max_bytes_scanned must be a positive", id="limit"),
            pytest.param(
                {"output_location": "athena-results/"}, "output_location must be an s3://", id="out"
            ),
        ],
    )
    def test_bad_input_is_refused_before_any_query(self, sandbox, athena, kwargs, message):
        with pytest.raises(ValueError, match=message):
            make_op(**kwargs).execute(context())
        assert athena.list_query_executions()["QueryExecutionIds"] == []


def stop_when_started(op: AthenaReportOperator, athena: Any, kill: bool = False) -> None:
    deadline = time.monotonic() + 20
    while op.query_execution_id is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # let execute() poll a few times
    if kill:
        op.on_kill()
    else:
        athena.stop_query_execution(QueryExecutionId=op.query_execution_id)


# --- cost guard -------------------------------------------------------------------------------------------


class TestCostGuard:
    """The query really scans the day's object; held QUEUED for two polls, it shows RUNNING with its
    bytes on the third, where the operator (or the trigger) must stop it."""

    def test_sync_path_stops_the_query_past_the_limit(self, sandbox, orders_table, slow_queries):
        slow_queries(2)
        limit = orders_table - 1
        op = make_op(max_bytes_scanned=limit)

        with pytest.raises(AirflowFailException) as raised:
            op.execute(context())

        assert str(raised.value).startswith(
            f"Athena query {op.query_execution_id} was stopped by the cost guard: it had scanned "
            f"{orders_table:,} bytes ({orders_table} B), more than "
            f"max_bytes_scanned={limit:,} bytes ({limit} B)."
        )
        athena = sandbox.boto3_client("athena")
        assert moto_state(athena, op.query_execution_id) == "CANCELLED"
        assert sandbox.boto3_client("s3").list_objects_v2(Bucket=REPORTS_BUCKET).get("KeyCount") == 0

    def test_deferred_path_stops_the_query_past_the_limit(self, sandbox, orders_table, slow_queries):
        slow_queries(2)
        limit = orders_table - 1
        op = make_op(deferrable=True, max_bytes_scanned=limit)
        trigger = defer(op)

        event = run_trigger(trigger)

        assert event["status"] == "cost_exceeded"
        assert moto_state(sandbox.boto3_client("athena"), trigger.query_execution_id) == "CANCELLED"
        with pytest.raises(
            AirflowFailException, match=f"scanned {orders_table:,} bytes .* max_bytes_scanned={limit:,}"
        ):
            op.execute_complete(context(), event)

    def test_under_the_limit_publishes(self, sandbox, orders_table, slow_queries):
        slow_queries(1)
        op = make_op(max_bytes_scanned=orders_table)
        result = op.execute(context())
        assert result["bytes_scanned"] == orders_table
        assert report_text(sandbox, "daily_sales/2024-03-01.csv") == EXPECTED_CSV


# --- on_kill ----------------------------------------------------------------------------------------------


class TestOnKill:
    def test_on_kill_stops_the_running_query_sync(self, sandbox, athena, slow_queries):
        slow_queries(1000)
        op = make_op()
        killer = threading.Thread(target=stop_when_started, args=(op, athena, True))
        killer.start()
        with pytest.raises(AirflowException, match="ended CANCELLED"):
            op.execute(context())
        killer.join()
        assert moto_state(athena, op.query_execution_id) == "CANCELLED"

    def test_trigger_on_kill_stops_the_query(self, sandbox, athena, slow_queries):
        # Airflow 3.3+ calls the trigger's on_kill() when a user acts on the deferred task.
        slow_queries(1000)
        trigger = defer(make_op(deferrable=True))
        assert moto_state(athena, trigger.query_execution_id) == "QUEUED"
        asyncio.run(trigger.on_kill())
        assert moto_state(athena, trigger.query_execution_id) == "CANCELLED"

    @pytest.mark.parametrize(
        ("task_state", "cancel_message", "expected"),
        [
            pytest.param("failed", None, "CANCELLED", id="user-marked-failed"),
            pytest.param("deferred", None, "QUEUED", id="triggerer-restart"),
            pytest.param(
                "failed", "__airflow_user_action__", "QUEUED", id="airflow-3.3-leaves-it-to-on_kill"
            ),
        ],
    )
    def test_cancelled_trigger_stops_the_query_only_when_a_user_acted(
        self, sandbox, athena, slow_queries, monkeypatch, task_state, cancel_message, expected
    ):
        slow_queries(1000)
        trigger = defer(make_op(deferrable=True))
        trigger.task_instance = SimpleNamespace(  # type: ignore[assignment]
            dag_id="adhoc", task_id="daily_sales", run_id=RUN_ID, map_index=-1
        )
        # The task state lives in Airflow's metadata DB / API server, which a unit of the trigger has no
        # access to; this replaces only that lookup.
        monkeypatch.setattr(
            "airflow_sales_provider.triggers.athena.current_task_state", lambda ti: task_state
        )

        async def cancel_while_waiting() -> None:
            task = asyncio.create_task(first_event(trigger))
            await asyncio.sleep(0.3)
            task.cancel(cancel_message)
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(cancel_while_waiting())
        assert moto_state(athena, trigger.query_execution_id) == expected
