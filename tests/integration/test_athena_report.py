"""AthenaReportOperator against the sandbox's moto server (boto3 and aiobotocore over HTTP).

moto runs no SQL: it returns the rows queued with its static-results API and writes them as the
result CSV at the output location, like Athena. Where moto cannot produce what Athena does (a
FAILED state, a growing DataScannedInBytes, ClientRequestToken idempotency), the test rewrites the
*AWS response* on the hook's own client through botocore's event system, naming why at each place;
the operator, hook and trigger code always runs unchanged against the real server.
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


class GrowingScan:
    """Athena's DataScannedInBytes grows while a query runs; moto always reports 0. This rewrites that
    one field of each GetQueryExecution *response* (the query itself stays a real moto execution)."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.polls = 0

    def on_response(self, parsed: dict[str, Any], **kwargs: Any) -> None:
        if "QueryExecution" in parsed:
            self.polls += 1
            parsed["QueryExecution"]["Statistics"]["DataScannedInBytes"] = self.step * self.polls

    def register(self, events: Any) -> None:
        events.register("after-call.athena.GetQueryExecution", self.on_response)


def patch_async_athena(monkeypatch, register) -> None:
    """Let ``register`` hook into the trigger's aiobotocore client as it is created from AthenaHook."""
    from airflow_sales_provider.triggers import athena as trigger_module

    original = trigger_module.aws_async_conn

    class Registering:
        def __init__(self, creator: Any) -> None:
            self._creator = creator

        async def __aenter__(self) -> Any:
            client = await self._creator.__aenter__()
            register(client.meta.events)
            return client

        async def __aexit__(self, *exc: Any) -> Any:
            return await self._creator.__aexit__(*exc)

    async def aws_async_conn(hook: Any) -> Any:
        return Registering(await original(hook))

    monkeypatch.setattr(trigger_module, "aws_async_conn", aws_async_conn)


class AthenaIdempotency:
    """Athena returns the same QueryExecutionId for a ClientRequestToken it has already seen (its
    documented idempotency); moto ignores the token and starts a new execution every time. This
    answers StartQueryExecution from the first response for a known token, as Athena does."""

    def __init__(self) -> None:
        self.by_token: dict[str, str] = {}
        self.tokens_sent: list[str] = []

    def remember_token(self, params: dict[str, Any], context: dict[str, Any], **kwargs: Any) -> None:
        context["test_token"] = params.get("ClientRequestToken")
        self.tokens_sent.append(params.get("ClientRequestToken"))

    def answer_known_token(self, context: dict[str, Any], **kwargs: Any) -> Any:
        query_execution_id = self.by_token.get(context.get("test_token"))
        if query_execution_id is None:
            return None
        return SimpleNamespace(status_code=200, headers={}), {"QueryExecutionId": query_execution_id}

    def record(self, parsed: dict[str, Any], context: dict[str, Any], **kwargs: Any) -> None:
        self.by_token.setdefault(context["test_token"], parsed["QueryExecutionId"])

    def install(self, op: AthenaReportOperator) -> None:
        events = op.hook.get_conn().meta.events
        events.register("before-parameter-build.athena.StartQueryExecution", self.remember_token)
        events.register("before-call.athena.StartQueryExecution", self.answer_known_token)
        events.register("after-call.athena.StartQueryExecution", self.record)


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
        self, sandbox, athena, slow_queries
    ):
        slow_queries(3)
        idempotency = AthenaIdempotency()
        # Try 1 starts the query and defers; then its worker is lost (the trigger never reports back).
        first_try = make_op(deferrable=True)
        idempotency.install(first_try)
        first_trigger = defer(first_try)

        second_try = make_op()  # the retry: a fresh operator in a fresh worker, same task instance
        idempotency.install(second_try)
        result = second_try.execute(context())

        expected_token = client_request_token(first_try.dag_id, "daily_sales", RUN_ID, SQL)
        assert idempotency.tokens_sent == [expected_token, expected_token]
        assert result["query_execution_id"] == first_trigger.query_execution_id
        assert athena.list_query_executions()["QueryExecutionIds"] == [result["query_execution_id"]]
        assert report_text(sandbox, "daily_sales/2024-03-01.csv") == EXPECTED_CSV

    def test_changed_sql_is_a_new_query(self, sandbox, athena):
        idempotency = AthenaIdempotency()
        first = make_op()
        idempotency.install(first)
        first_id = first.execute(context())["query_execution_id"]
        queue_rows(sandbox, ROWS)
        second = make_op(sql=SQL + " LIMIT 10")
        idempotency.install(second)
        second_id = second.execute(context())["query_execution_id"]

        assert len(set(idempotency.tokens_sent)) == 2
        assert first_id != second_id

    def test_retry_after_a_cancelled_execution_starts_a_new_one(self, sandbox, athena, slow_queries):
        slow_queries(1000)
        idempotency = AthenaIdempotency()
        first_try = make_op(deferrable=True)
        idempotency.install(first_try)
        cancelled_id = defer(first_try).query_execution_id
        athena.stop_query_execution(QueryExecutionId=cancelled_id)  # e.g. stopped from the console
        time.sleep(0.01)  # the retry begins after the cancelled execution was submitted

        slow_queries(1)
        queue_rows(sandbox, ROWS)
        second_try = make_op()
        idempotency.install(second_try)
        result = second_try.execute(context())

        assert result["query_execution_id"] != cancelled_id
        assert moto_state(athena, cancelled_id) == "CANCELLED"
        assert len(idempotency.tokens_sent) == 3  # try 1; try 2 re-attaches to it, then the next token
        assert idempotency.tokens_sent[0] == idempotency.tokens_sent[1] != idempotency.tokens_sent[2]
        assert report_text(sandbox, "daily_sales/2024-03-01.csv") == EXPECTED_CSV


# --- failures ---------------------------------------------------------------------------------------------


class TestFailures:
    def test_failed_query_reports_the_reason_and_id(self, sandbox, athena):
        op = make_op()

        def athena_says_failed(parsed: dict[str, Any], **kwargs: Any) -> None:
            # moto never fails a query (it runs no SQL); Athena answers a bad query like this.
            parsed["QueryExecution"]["Status"]["State"] = "FAILED"
            parsed["QueryExecution"]["Status"]["StateChangeReason"] = (
                "COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved"
            )

        op.hook.get_conn().meta.events.register("after-call.athena.GetQueryExecution", athena_says_failed)
        with pytest.raises(AirflowException) as raised:
            op.execute(context())

        (query_execution_id,) = athena.list_query_executions()["QueryExecutionIds"]
        assert str(raised.value) == (
            f"Athena query {query_execution_id} ended FAILED: "
            "COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved"
        )
        assert sandbox.boto3_client("s3").list_objects_v2(Bucket=REPORTS_BUCKET).get("KeyCount") == 0

    def test_failed_query_reports_the_reason_and_id_deferred(
        self, sandbox, athena, slow_queries, monkeypatch
    ):
        slow_queries(2)
        op = make_op(deferrable=True)
        trigger = defer(op)

        def athena_says_failed(parsed: dict[str, Any], **kwargs: Any) -> None:
            # moto never fails a query (it runs no SQL); Athena answers a bad query like this.
            parsed["QueryExecution"]["Status"]["State"] = "FAILED"
            parsed["QueryExecution"]["Status"]["StateChangeReason"] = (
                "TABLE_NOT_FOUND: Table 'orders' not found"
            )

        patch_async_athena(
            monkeypatch,
            lambda events: events.register("after-call.athena.GetQueryExecution", athena_says_failed),
        )
        event = run_trigger(trigger)

        assert event["status"] == "failed"
        with pytest.raises(AirflowException) as raised:
            op.execute_complete(context(), event)
        assert str(raised.value) == (
            f"Athena query {trigger.query_execution_id} ended FAILED: "
            "TABLE_NOT_FOUND: Table 'orders' not found"
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

    def test_trigger_error_event_fails_the_task(self, sandbox, athena, monkeypatch):
        # moto answers an unknown query id with HTTP 500; a connection without retries makes it quick.
        conn = {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {
                "endpoint_url": sandbox.aws_endpoint_url,
                "region_name": "us-east-1",
                "config_kwargs": {"retries": {"max_attempts": 1}},
            },
        }
        monkeypatch.setenv("AIRFLOW_CONN_AWS_NO_RETRY", json.dumps(conn))
        trigger = AthenaReportTrigger(
            query_execution_id="q-1", aws_conn_id="aws_no_retry", poll_interval=0.05
        )
        event = asyncio.run(asyncio.wait_for(first_event(trigger), timeout=30)).payload
        assert event["status"] == "error"
        assert "GetQueryExecution" in event["message"]
        with pytest.raises(AirflowException, match="Waiting for Athena query q-1 failed: ClientError"):
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
        with pytest.raises(ValueError, match=message) as info:
            make_op(**kwargs).execute(context())
        assert isinstance(info.value, AirflowFailException), "a configuration mistake fails without retries"
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
    def test_sync_path_stops_the_query_past_the_limit(self, sandbox, athena, slow_queries):
        slow_queries(1000)
        scan = GrowingScan(step=10_000_000)
        op = make_op(max_bytes_scanned=25_000_000)
        scan.register(op.hook.get_conn().meta.events)

        with pytest.raises(AirflowFailException) as raised:
            op.execute(context())

        assert scan.polls == 3  # 10 MB, 20 MB, 30 MB > 25 MB
        assert str(raised.value).startswith(
            f"Athena query {op.query_execution_id} was stopped by the cost guard: it had scanned "
            "30,000,000 bytes (28.6 MiB), more than max_bytes_scanned=25,000,000 bytes (23.8 MiB)."
        )
        assert moto_state(athena, op.query_execution_id) == "CANCELLED"
        assert sandbox.boto3_client("s3").list_objects_v2(Bucket=REPORTS_BUCKET).get("KeyCount") == 0

    def test_deferred_path_stops_the_query_past_the_limit(self, sandbox, athena, slow_queries, monkeypatch):
        slow_queries(1000)
        op = make_op(deferrable=True, max_bytes_scanned=25_000_000)
        trigger = defer(op)
        scan = GrowingScan(step=10_000_000)
        patch_async_athena(monkeypatch, scan.register)

        event = run_trigger(trigger)

        assert event["status"] == "cost_exceeded"
        assert scan.polls == 3
        assert moto_state(athena, trigger.query_execution_id) == "CANCELLED"
        with pytest.raises(
            AirflowFailException, match="scanned 30,000,000 bytes .* max_bytes_scanned=25,000,000"
        ):
            op.execute_complete(context(), event)

    def test_under_the_limit_publishes(self, sandbox, athena, slow_queries):
        slow_queries(1)
        scan = GrowingScan(step=1_000)
        op = make_op(max_bytes_scanned=25_000_000)
        scan.register(op.hook.get_conn().meta.events)
        result = op.execute(context())
        assert result["bytes_scanned"] == 1_000 * scan.polls
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
