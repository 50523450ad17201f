"""S3ArrivalSensor and its trigger against the sandbox's moto server (and warehouse, for the ledger).

Files really arrive while the sensor waits: a thread uploads them after a delay. The deferred path
rebuilds the trigger from its serialized form, as the triggerer does, and runs its ``run()`` under
asyncio against moto; aiobotocore talks HTTP to the server like boto3 does.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from airflow_sales_provider import ledger
from airflow_sales_provider.compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from airflow_sales_provider.hooks.s3_arrival import list_objects_async, list_objects_sync, shared_s3_client
from airflow_sales_provider.sensors.s3_arrival import S3ArrivalSensor
from airflow_sales_provider.triggers.s3_arrival import S3ArrivalTrigger

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.integration

BUCKET = "sales-raw"
PREFIX = "daily/2024-03-01/"
RUN_ID = "manual__2024-03-01T00:00:00+00:00"
LEDGER = "s3_arrival_test_ledger"
TARGET = "public.sales"


def context() -> dict[str, Any]:
    return {"run_id": RUN_ID, "ti": SimpleNamespace(dag_id="s3_arrival_test", run_id=RUN_ID, map_index=-1)}


def make_sensor(**kwargs: Any) -> S3ArrivalSensor:
    params: dict[str, Any] = {
        "task_id": "wait_for_sales",
        "bucket": BUCKET,
        "prefix": PREFIX,
        "settle_seconds": 0,
        "poke_interval": 0.2,
        "timeout": 30,
        "mode": "poke",
        "deferrable": False,
    }
    params.update(kwargs)
    return S3ArrivalSensor(**params)


async def first_event(trigger: S3ArrivalTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")


def rebuild(trigger: S3ArrivalTrigger) -> S3ArrivalTrigger:
    """The triggerer's view: the class path and kwargs from serialize(), nothing else."""
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_sales_provider.triggers.s3_arrival.S3ArrivalTrigger"
    json.dumps(kwargs)  # storable as the trigger row's kwargs
    return S3ArrivalTrigger(**kwargs)


def run_trigger(trigger: S3ArrivalTrigger, timeout: float = 30) -> dict[str, Any]:
    return asyncio.run(asyncio.wait_for(first_event(rebuild(trigger)), timeout=timeout))


def defer(sensor: S3ArrivalSensor) -> S3ArrivalTrigger:
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context())
    assert deferred.value.method_name == "execute_complete"
    trigger = deferred.value.trigger
    assert isinstance(trigger, S3ArrivalTrigger)
    return trigger


def keys_of(xcom: dict[str, Any]) -> list[str]:
    return [item["key"] for item in xcom["keys"]]


def etag(s3: Any, key: str) -> str:
    return s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')


class Later:
    """Run ``action`` in a thread after ``delay`` seconds (real time); ``done`` is set when it finished."""

    def __init__(self, delay: float, action: Callable[[], None]) -> None:
        self.done = threading.Event()
        self._stop = threading.Event()
        self._delay = delay
        self._action = action
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        if self._stop.wait(self._delay):
            return
        try:
            self._action()
        except BaseException as exc:  # reported by join()
            self._error = exc
        finally:
            self.done.set()

    def __enter__(self) -> Later:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        if self._error is not None:
            raise self._error


@pytest.fixture
def s3(sandbox: Any) -> Any:
    client = sandbox.boto3_client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def put(s3: Any, name: str, body: bytes = b"store,amount\n1,10\n") -> str:
    s3.put_object(Bucket=BUCKET, Key=PREFIX + name, Body=body)
    return PREFIX + name


@pytest.fixture
def ledger_table(warehouse: Any) -> Iterator[str]:
    """A ledger table of our own in the warehouse, made with the loader's DDL, dropped afterwards."""
    name = ledger.ledger_identifier(LEDGER)
    with warehouse.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
        cursor.execute(ledger.create_table_sql(name))
    yield LEDGER
    with warehouse.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")


def record_loaded(warehouse: Any, key: str, etag_value: str, size: int) -> None:
    """A ledger row as the loader writes it (same INSERT builder, ETag stored bare)."""
    entry = ledger.LedgerEntry(
        target_table=TARGET,
        bucket=BUCKET,
        s3_key=key,
        etag=ledger.normalise_etag(etag_value),
        size_bytes=size,
        row_count=1,
        dag_id="loader",
        run_id="earlier",
        try_number=1,
        loaded_at=datetime(2024, 3, 1),
    )
    with warehouse.cursor() as cursor:
        cursor.execute(ledger.insert_sql(ledger.ledger_identifier(LEDGER)), entry.as_row())


# -- listing ---------------------------------------------------------------------------------------------
class TestListing:
    def test_paginates_under_the_prefix_only(self, s3):
        wanted = sorted(put(s3, f"f{i}.csv") for i in range(5))
        s3.put_object(Bucket=BUCKET, Key="daily/2024-03-02/other.csv", Body=b"x")
        s3.put_object(Bucket=BUCKET, Key="elsewhere.csv", Body=b"x")
        objects, now = list_objects_sync(s3, BUCKET, PREFIX, page_size=2)
        assert [o.key for o in objects] == wanted
        assert abs(now - time.time()) < 120, "the S3 Date header is read as the listing's time"

        async def listed() -> list[str]:
            async with shared_s3_client("aws_default") as client:
                found, _ = await list_objects_async(client, BUCKET, PREFIX, page_size=2)
                return [o.key for o in found]

        assert asyncio.run(listed()) == wanted

    def test_trigger_requests_name_the_prefix(self, s3):
        """Every ListObjectsV2 request the trigger sends carries the prefix: never a whole-bucket listing."""
        put(s3, "a.csv")
        requests: list[dict[str, Any]] = []

        async def scenario() -> dict[str, Any]:
            async with shared_s3_client("aws_default") as client:  # the trigger shares this client
                client.meta.events.register(
                    "before-parameter-build.s3.ListObjectsV2",
                    lambda params, **_: requests.append(dict(params)),
                )
                return await first_event(rebuild(defer_or_trigger()))

        def defer_or_trigger() -> S3ArrivalTrigger:
            return S3ArrivalTrigger(
                bucket=BUCKET, prefix=PREFIX, poke_interval=0.1, deadline=time.time() + 20
            )

        payload = asyncio.run(scenario())
        assert payload["status"] == "success"
        assert requests, "the trigger listed through the shared client"
        assert all(r.get("Prefix") == PREFIX and r.get("Bucket") == BUCKET for r in requests)


# -- arrival while waiting -------------------------------------------------------------------------------
class TestArrival:
    def test_sync_sensor_waits_for_files_uploaded_later(self, s3):
        sensor = make_sensor(min_files=2)
        with Later(1.0, lambda: (put(s3, "store_1.csv"), put(s3, "store_2.csv"))) as later:
            result = sensor.execute(context())
            assert later.done.is_set()
        assert result == {
            "bucket": BUCKET,
            "prefix": PREFIX,
            "keys": [
                {"key": PREFIX + "store_1.csv", "size": 18, "etag": etag(s3, PREFIX + "store_1.csv")},
                {"key": PREFIX + "store_2.csv", "size": 18, "etag": etag(s3, PREFIX + "store_2.csv")},
            ],
        }

    def test_deferred_sensor_waits_in_the_trigger(self, s3):
        sensor = make_sensor(min_files=2, deferrable=True)
        trigger = defer(sensor)  # nothing there yet: the worker slot is given back
        assert trigger.prefix == PREFIX
        with Later(1.0, lambda: (put(s3, "store_1.csv"), put(s3, "store_2.csv"))) as later:
            event = run_trigger(trigger)
            assert later.done.is_set()
        assert event["status"] == "success"
        result = sensor.execute_complete(context(), event)
        assert keys_of(result) == [PREFIX + "store_1.csv", PREFIX + "store_2.csv"]
        assert result["keys"][0]["etag"] == etag(s3, PREFIX + "store_1.csv")

    def test_deferrable_sensor_returns_at_once_when_files_are_there(self, s3):
        put(s3, "store_1.csv")
        result = make_sensor(deferrable=True).execute(context())
        assert keys_of(result) == [PREFIX + "store_1.csv"]


# -- settling --------------------------------------------------------------------------------------------
def growing_writer(s3: Any, key: str, writes: int, every: float) -> Callable[[], None]:
    def write() -> None:
        for i in range(1, writes + 1):
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * (100 * i))
            time.sleep(every)

    return write


class TestSettle:
    WRITES = 5
    EVERY = 0.4  # seconds between rewrites: far below SETTLE + the 1 s clock margin, even on a busy machine
    # A rewrite (or the sensor's first look) delayed past SETTLE + 1 s by a loaded machine would be a
    # real settle, failing the test for the wrong reason: 4 s leaves ten times EVERY of headroom.
    SETTLE = 4
    FINAL_SIZE = 100 * WRITES

    def test_sync_growing_file_is_accepted_only_after_it_stops(self, s3):
        sensor = make_sensor(settle_seconds=self.SETTLE, poke_interval=0.3)
        with Later(0, growing_writer(s3, PREFIX + "big.csv", self.WRITES, self.EVERY)) as writer:
            result = sensor.execute(context())
            assert writer.done.is_set(), "accepted while the file was still being rewritten"
        assert result["keys"] == [
            {"key": PREFIX + "big.csv", "size": self.FINAL_SIZE, "etag": etag(s3, PREFIX + "big.csv")}
        ]

    def test_deferred_growing_file_is_accepted_only_after_it_stops(self, s3):
        put(s3, "big.csv", b"x")  # already there, but still growing: the worker's first look must defer
        sensor = make_sensor(settle_seconds=self.SETTLE, deferrable=True, poke_interval=0.3)
        trigger = defer(sensor)
        with Later(0, growing_writer(s3, PREFIX + "big.csv", self.WRITES, self.EVERY)) as writer:
            event = run_trigger(trigger)
            assert writer.done.is_set(), "accepted while the file was still being rewritten"
        result = sensor.execute_complete(context(), event)
        assert result["keys"][0]["size"] == self.FINAL_SIZE

    def test_settle_state_survives_reschedules(self, s3):
        """Each reschedule is a fresh sensor (new process): the settle clock comes from S3, not memory."""
        verdicts: list[tuple[bool, bool]] = []
        with Later(0, growing_writer(s3, PREFIX + "big.csv", self.WRITES, self.EVERY)) as writer:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                writing = not writer.done.is_set()
                fresh = make_sensor(settle_seconds=self.SETTLE, mode="reschedule")
                done = bool(fresh.poke(context()))
                verdicts.append((writing, done))
                if done:
                    break
                time.sleep(0.3)
        assert verdicts[-1][1], "never settled"
        assert not any(done for writing, done in verdicts if writing)
        assert len(verdicts) > 2

    def test_files_that_landed_long_ago_need_no_extra_wait(self, s3):
        put(s3, "old.csv")
        time.sleep(2.1)  # older than settle + the 1 s clock margin on S3's clock
        result = make_sensor(settle_seconds=1).poke(context())
        assert result and result.xcom_value["keys"][0]["key"] == PREFIX + "old.csv"


# -- pattern and size --------------------------------------------------------------------------------------
class TestPatternAndSize:
    def seed(self, s3: Any) -> None:
        put(s3, "store_1.csv", b"a,b\n1,2\n")
        put(s3, "store_2.csv", b"")  # empty: below min size
        put(s3, "store_3.txt", b"a,b\n1,2\n")
        s3.put_object(Bucket=BUCKET, Key=PREFIX + "folder/", Body=b"")

    def test_sync(self, s3):
        self.seed(s3)
        result = make_sensor(pattern="store_*.csv", min_size_bytes=1).execute(context())
        assert keys_of(result) == [PREFIX + "store_1.csv"]

    def test_deferred_waits_for_a_matching_file(self, s3):
        self.seed(s3)
        sensor = make_sensor(pattern="store_*.csv", min_size_bytes=1, min_files=2, deferrable=True)
        trigger = defer(sensor)  # one match of two: defer
        with Later(0.5, lambda: put(s3, "store_4.csv")):
            event = run_trigger(trigger)
        assert keys_of(sensor.execute_complete(context(), event)) == [
            PREFIX + "store_1.csv",
            PREFIX + "store_4.csv",
        ]


# -- manifest spill-over --------------------------------------------------------------------------------
class TestManifest:
    PREFIX_NO_SLASH = "daily/2024-03-01"  # the default manifest folder is then *under* the prefix

    def expected_manifest(self, s3: Any) -> dict[str, Any]:
        keys = sorted(f"{PREFIX}f{i:02d}.csv" for i in range(5))
        return {"bucket": BUCKET, "keys": [{"key": k, "size": 18, "etag": etag(s3, k)} for k in keys]}

    def read(self, s3: Any, uri: str) -> dict[str, Any]:
        assert uri.startswith(f"s3://{BUCKET}/")
        key = uri[len(f"s3://{BUCKET}/") :]
        return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())

    def test_sync_spills_to_a_manifest_and_never_counts_it(self, s3):
        for i in range(5):
            put(s3, f"f{i:02d}.csv")
        sensor = make_sensor(prefix=self.PREFIX_NO_SLASH, max_keys_in_xcom=3)
        result = sensor.execute(context())
        manifest_key = (
            "daily/2024-03-01_manifests/s3_arrival_test/wait_for_sales/manual__2024-03-01T00_00_00_00_00.json"
        )
        assert result == {
            "bucket": BUCKET,
            "prefix": self.PREFIX_NO_SLASH,
            "manifest_uri": f"s3://{BUCKET}/{manifest_key}",
            "key_count": 5,
        }
        assert self.read(s3, result["manifest_uri"]) == self.expected_manifest(s3)
        # A re-run lists the manifest under the prefix but does not count it as an arrived file.
        again = make_sensor(prefix=self.PREFIX_NO_SLASH, max_keys_in_xcom=10).execute(context())
        assert len(again["keys"]) == 5
        assert all(item["key"].endswith(".csv") for item in again["keys"])

    def test_deferred_trigger_writes_the_manifest(self, s3):
        sensor = make_sensor(
            max_keys_in_xcom=3, min_files=5, deferrable=True, manifest_key="manifests/2024-03-01.json"
        )
        trigger = defer(sensor)

        def land() -> None:
            for i in range(5):
                put(s3, f"f{i:02d}.csv")

        with Later(0.5, land):
            event = run_trigger(trigger)
        # Loader's contract: bucket, prefix, manifest_uri, key_count; the event stays small.
        assert len(json.dumps(event)) < 500
        result = sensor.execute_complete(context(), event)
        assert result["manifest_uri"] == f"s3://{BUCKET}/manifests/2024-03-01.json"
        assert result["key_count"] == 5
        assert self.read(s3, result["manifest_uri"]) == self.expected_manifest(s3)

    def test_manifest_key_under_the_prefix_is_refused(self, s3):
        with pytest.raises(AirflowFailException, match="under prefix"):
            make_sensor(manifest_key=PREFIX + "manifest.json").execute(context())


# -- ledger exclusion ------------------------------------------------------------------------------------
class TestLedgerExclusion:
    def sensor(self, **kwargs: Any) -> S3ArrivalSensor:
        return make_sensor(
            exclude_loaded_into=TARGET, warehouse_conn_id="warehouse_default", ledger_table=LEDGER, **kwargs
        )

    def test_loaded_files_are_skipped_and_only_new_ones_count(self, s3, warehouse, ledger_table):
        loaded = put(s3, "store_1.csv")
        record_loaded(warehouse, loaded, s3.head_object(Bucket=BUCKET, Key=loaded)["ETag"], 18)
        reuploaded = put(s3, "store_2.csv", b"store,amount\n2,99\n")
        record_loaded(warehouse, reuploaded, '"an-older-etag"', 18)  # same key, new content: counts again
        result = self.sensor().execute(context())
        assert keys_of(result) == [reuploaded]

    def test_waits_while_only_loaded_files_are_there(self, s3, warehouse, ledger_table):
        loaded = put(s3, "store_1.csv")
        record_loaded(warehouse, loaded, etag(s3, loaded), 18)
        sensor = self.sensor(deferrable=True)
        trigger = defer(sensor)
        with Later(0.8, lambda: put(s3, "store_2.csv")):
            event = run_trigger(trigger)  # the trigger reads the ledger in a thread
        assert keys_of(sensor.execute_complete(context(), event)) == [PREFIX + "store_2.csv"]

    def test_only_loaded_files_time_out(self, s3, warehouse, ledger_table):
        loaded = put(s3, "store_1.csv")
        record_loaded(warehouse, loaded, etag(s3, loaded), 18)
        with pytest.raises(AirflowSensorTimeout):
            self.sensor(timeout=0.6).execute(context())

    def test_missing_ledger_table_means_nothing_loaded_yet(self, s3, warehouse):
        with warehouse.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {ledger.ledger_identifier(LEDGER)}")
        put(s3, "store_1.csv")
        assert keys_of(self.sensor().execute(context())) == [PREFIX + "store_1.csv"]
        trigger = S3ArrivalTrigger(
            bucket=BUCKET,
            prefix=PREFIX,
            exclude_loaded_into=TARGET,
            warehouse_conn_id="warehouse_default",
            ledger_table=LEDGER,
            poke_interval=0.1,
            deadline=time.time() + 20,
        )
        assert keys_of(run_trigger(trigger)["xcom"]) == [PREFIX + "store_1.csv"]

    def test_bad_target_table_is_a_config_error(self, s3):
        with pytest.raises(AirflowFailException, match="exclude_loaded_into"):
            make_sensor(exclude_loaded_into="sales; drop table x", soft_fail=True).execute(context())


# -- timeout and soft_fail ------------------------------------------------------------------------------
TIMEOUT_OUTCOMES = [
    pytest.param(False, AirflowSensorTimeout, id="fail"),
    pytest.param(True, AirflowSkipException, id="skip"),
]


class TestTimeout:
    @pytest.mark.parametrize(
        ("soft_fail", "expected"),
        [
            pytest.param(False, AirflowSensorTimeout, id="fail"),
            pytest.param(True, AirflowSkipException, id="skip"),
        ],
    )
    def test_sync(self, s3, soft_fail, expected):
        with pytest.raises(expected):
            make_sensor(timeout=0.6, soft_fail=soft_fail).execute(context())

    @pytest.mark.parametrize(
        ("soft_fail", "expected"),
        [
            pytest.param(False, AirflowSensorTimeout, id="fail"),
            pytest.param(True, AirflowSkipException, id="skip"),
        ],
    )
    def test_deferred(self, s3, soft_fail, expected):
        sensor = make_sensor(timeout=0.8, soft_fail=soft_fail, deferrable=True)
        event = run_trigger(defer(sensor))
        assert event["status"] == "timeout"
        assert "did not arrive" in event["message"]
        with pytest.raises(expected):
            sensor.resume_execution("execute_complete", {"event": event}, context())

    @pytest.mark.parametrize(
        ("soft_fail", "expected"),
        [
            pytest.param(False, AirflowSensorTimeout, id="fail"),
            pytest.param(True, AirflowSkipException, id="skip"),
        ],
    )
    @pytest.mark.parametrize(
        "error",
        [
            pytest.param("Trigger timeout", id="airflow-3"),
            pytest.param("Trigger/execution timeout", id="airflow-2"),
        ],
    )
    def test_airflow_deferral_timeout_backstop(self, soft_fail, expected, error):
        sensor = make_sensor(soft_fail=soft_fail, deferrable=True)
        with pytest.raises(expected):
            sensor.resume_execution("__fail__", {"error": error}, context())


# -- configuration errors --------------------------------------------------------------------------------
class TestConfigurationErrors:
    @pytest.mark.parametrize(
        "kwargs",
        [
            pytest.param({"soft_fail": True}, id="soft_fail"),
            pytest.param({"never_fail": True}, id="never_fail"),
            pytest.param({"silent_fail": True}, id="silent_fail"),
            pytest.param({"deferrable": True, "soft_fail": True}, id="deferrable-soft_fail"),
        ],
    )
    def test_missing_bucket_fails_fast_and_is_never_skipped(self, sandbox, kwargs):
        sensor = make_sensor(bucket="no-such-bucket", timeout=30, **kwargs)
        started = time.monotonic()
        with pytest.raises(AirflowFailException, match="NoSuchBucket.*does not exist") as failure:
            sensor.execute(context())
        assert time.monotonic() - started < 25, "failed at the first poke, not at the timeout"
        assert not isinstance(failure.value, AirflowSkipException)

    def test_missing_bucket_in_the_trigger_fails_even_with_soft_fail(self, sandbox):
        trigger = S3ArrivalTrigger(
            bucket="no-such-bucket", prefix=PREFIX, poke_interval=0.1, deadline=time.time() + 20
        )
        event = run_trigger(trigger)
        assert event["status"] == "error"
        assert event["config_error"] is True
        assert "no-such-bucket" in event["message"]
        sensor = make_sensor(bucket="no-such-bucket", soft_fail=True, deferrable=True)
        with pytest.raises(AirflowFailException, match="does not exist"):
            sensor.resume_execution("execute_complete", {"event": event}, context())

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            pytest.param({"prefix": ""}, "never a whole bucket", id="empty-prefix"),
            pytest.param({"bucket": "s3://sales-raw"}, "not a URL", id="bucket-url"),
            pytest.param({"min_files": 0}, "min_files", id="min-files"),
            pytest.param({"max_keys_in_xcom": -1}, "max_keys_in_xcom", id="max-keys"),
        ],
    )
    def test_bad_parameters_fail_in_execute(self, s3, kwargs, message):
        with pytest.raises(AirflowFailException, match=message):
            make_sensor(soft_fail=True, **kwargs).execute(context())


# -- the shared client and transient failures -----------------------------------------------------------
class TestTriggerProcess:
    def test_triggers_share_one_client_and_release_it(self, s3):
        from airflow_sales_provider.hooks import s3_arrival as module

        async def scenario() -> tuple[int, int, set[int]]:
            triggers = [
                S3ArrivalTrigger(
                    bucket=BUCKET, prefix=f"waiting/{i}/", poke_interval=0.2, deadline=time.time() + 30
                )
                for i in range(3)
            ]
            tasks = [asyncio.create_task(first_event(t)) for t in triggers]
            await asyncio.sleep(1.0)  # every trigger has listed at least once
            entries = list(module._SHARED_CLIENTS.values())
            clients = {id(e.client) for e in entries}
            users = sum(e.users for e in entries)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return len(entries), users, clients

        entries, users, clients = asyncio.run(scenario())
        assert (entries, users, len(clients)) == (1, 3, 1), "three waiting triggers, one aiobotocore client"
        assert module._SHARED_CLIENTS == {}, "cancelled triggers closed the shared client"

    def test_triggers_on_one_prefix_share_their_listings(self, s3):
        """Five triggers waiting on the same prefix poke together and send one listing per poke, not five;
        one of them cancelled mid-wait cancels nothing the others wait for; all see the file land."""
        requests: list[str] = []

        async def scenario() -> tuple[int, list[dict[str, Any]]]:
            async with shared_s3_client("aws_default") as client:
                client.meta.events.register(
                    "before-parameter-build.s3.ListObjectsV2",
                    lambda params, **_: requests.append(params["Prefix"]),
                )
                triggers = [
                    S3ArrivalTrigger(
                        bucket=BUCKET, prefix=PREFIX, poke_interval=0.2, deadline=time.time() + 30
                    )
                    for _ in range(5)
                ]
                tasks = [asyncio.create_task(first_event(rebuild(t))) for t in triggers]
                await asyncio.sleep(1.3)
                waiting_requests = len(requests)
                tasks[0].cancel()
                await asyncio.sleep(0.05)
                await asyncio.to_thread(put, s3, "late.csv")
                payloads = await asyncio.wait_for(asyncio.gather(*tasks[1:]), timeout=20)
                return waiting_requests, payloads

        waiting_requests, payloads = asyncio.run(scenario())
        # 1.3 s at one poke per 0.2 s: about 7 rounds; five independent triggers would send about 35.
        assert 0 < waiting_requests <= 14, f"{waiting_requests} listings for 5 triggers on one prefix"
        assert [p["status"] for p in payloads] == ["success"] * 4
        assert all(p["xcom"]["keys"][0]["key"] == PREFIX + "late.csv" for p in payloads)

    def test_triggers_on_one_prefix_poke_at_the_same_moments_and_others_spread_out(self):
        from airflow_sales_provider.hooks.s3_arrival import poke_phase

        assert poke_phase(BUCKET, PREFIX, 5.0) == poke_phase(BUCKET, PREFIX, 5.0)
        phases = {poke_phase(BUCKET, f"waiting/{i:04d}/", 5.0) for i in range(200)}
        assert all(0 <= p < 5.0 for p in phases)
        assert len(phases) == 200 and max(phases) - min(phases) > 4.0

    def test_unreachable_endpoint_is_retried_then_fails_without_being_a_config_error(self, monkeypatch):
        from airflow_sales_provider.sandbox._process import free_port

        down = {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {
                "endpoint_url": f"http://127.0.0.1:{free_port()}",
                "region_name": "us-east-1",
                "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 1},
            },
        }
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DOWN", json.dumps(down))
        trigger = S3ArrivalTrigger(
            bucket=BUCKET, prefix=PREFIX, aws_conn_id="aws_down", poke_interval=0.1, deadline=time.time() + 60
        )
        event = run_trigger(trigger, timeout=60)
        assert event["status"] == "error"
        assert event["config_error"] is False
        assert "4 times in a row" in event["message"]
        sensor = make_sensor(aws_conn_id="aws_down", soft_fail=True, deferrable=True)
        with pytest.raises(AirflowException) as failure:
            sensor.resume_execution("execute_complete", {"event": event}, context())
        assert not isinstance(failure.value, (AirflowFailException, AirflowSkipException)), (
            "Airflow retries apply"
        )


def test_undefined_warehouse_connection_is_a_config_error(s3):
    put(s3, "store_1.csv")
    sensor = make_sensor(exclude_loaded_into=TARGET, warehouse_conn_id="no_such_warehouse", soft_fail=True)
    with pytest.raises(AirflowFailException, match="no_such_warehouse"):
        sensor.execute(context())
