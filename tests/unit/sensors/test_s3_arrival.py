"""S3ArrivalSensor plumbing without servers: templating, defaults, trigger serialization, events."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from typing import Any

import pytest

from airflow_sales_provider.compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferralError,
)
from airflow_sales_provider.ledger import DEFAULT_LEDGER_TABLE
from airflow_sales_provider.sensors.s3_arrival import S3ArrivalSensor
from airflow_sales_provider.triggers.s3_arrival import S3ArrivalTrigger

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[attr-defined,no-redef]


def make(**kwargs: Any) -> S3ArrivalSensor:
    params: dict[str, Any] = {"task_id": "wait", "bucket": "sales-raw", "prefix": "daily/{{ ds }}/"}
    params.update(kwargs)
    return S3ArrivalSensor(**params)


def test_defaults():
    sensor = make()
    assert sensor.mode == "reschedule", "a waiting non-deferred sensor frees its worker slot"
    assert sensor.min_files == 1
    assert sensor.settle_seconds == 60
    assert sensor.max_keys_in_xcom == 1000
    assert sensor.warehouse_conn_id == "redshift_default"
    assert sensor.ledger_table == DEFAULT_LEDGER_TABLE
    assert sensor.aws_conn_id == "aws_default"
    assert sensor.manifest_key is None


def test_init_only_assigns():
    """Templated values are not validated before rendering: a bad value fails in execute, not at parse."""
    sensor = make(bucket="{{ var.value.bucket }}", prefix="", min_files=0)
    assert sensor.prefix == ""


def test_template_fields_render():
    with DAG(dag_id="render_s3_arrival", schedule=None, start_date=datetime(2024, 1, 1)):
        sensor = make(
            bucket="{{ params.bucket }}",
            pattern="store_*_{{ ds_nodash }}.csv",
            exclude_loaded_into="{{ params.schema }}.sales",
            manifest_key="manifests/{{ ds }}.json",
            aws_conn_id="{{ params.conn }}",
            params={"bucket": "sales-raw", "schema": "public", "conn": "aws_default"},
        )
    context: dict[str, Any] = {
        "ds": "2024-03-01",
        "ds_nodash": "20240301",
        "params": {"bucket": "sales-raw", "schema": "public", "conn": "aws_default"},
    }
    sensor.render_template_fields(context)
    assert sensor.bucket == "sales-raw"
    assert sensor.prefix == "daily/2024-03-01/"
    assert sensor.pattern == "store_*_20240301.csv"
    assert sensor.exclude_loaded_into == "public.sales"
    assert sensor.manifest_key == "manifests/2024-03-01.json"
    assert sensor.aws_conn_id == "aws_default"


def test_min_files_and_settle_seconds_render_from_templates():
    """Environment-specific numbers come from a Variable through templates; rendered text is read back."""
    with DAG(dag_id="render_s3_arrival_numbers", schedule=None, start_date=datetime(2024, 1, 1)):
        sensor = make(min_files="{{ params.min_files }}", settle_seconds="{{ params.settle }}")
    sensor.render_template_fields({"ds": "2024-03-01", "params": {"min_files": 3, "settle": 2.5}})
    spec = sensor.arrival_spec()
    assert (spec.min_files, spec.settle_seconds) == (3, 2.5)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("min_files", "three", id="min-files-not-a-number"),
        pytest.param("min_files", "0", id="min-files-zero"),
        pytest.param("settle_seconds", "soon", id="settle-not-a-number"),
    ],
)
def test_rendered_numbers_that_are_not_numbers_fail_clearly(field, value):
    sensor = make(**{field: value})
    with pytest.raises(Exception, match=field):
        sensor.arrival_spec()


def test_deferrable_follows_airflow_config():
    """``deferrable`` defaults to ``[operators] default_deferrable`` (read in a fresh interpreter)."""
    probe = (
        "from airflow_sales_provider.sensors.s3_arrival import S3ArrivalSensor as S;"
        "print(S(task_id='w', bucket='b-1', prefix='p/').deferrable)"
    )
    for setting, expected in (("True", "True"), ("False", "False")):
        env = {**os.environ, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": setting}
        out = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip().splitlines()[-1] == expected


def test_trigger_serializes_every_argument():
    trigger = S3ArrivalTrigger(
        bucket="sales-raw",
        prefix="daily/2024-03-01/",
        pattern="*.csv",
        min_files=3,
        min_size_bytes=10,
        settle_seconds=120.0,
        ignore_prefix="daily/2024-03-01_manifests/",
        exclude_loaded_into="public.sales",
        warehouse_conn_id="wh",
        ledger_table="ops.ledger",
        max_keys_in_xcom=50,
        manifest_key="m/k.json",
        aws_conn_id="aws_x",
        poke_interval=30.0,
        deadline=1_700_000_000.0,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_sales_provider.triggers.s3_arrival.S3ArrivalTrigger"
    rebuilt = S3ArrivalTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    import inspect

    assert set(kwargs) == set(inspect.signature(S3ArrivalTrigger.__init__).parameters) - {"self"}


class TestEvents:
    def test_success_returns_the_xcom(self):
        xcom = {"bucket": "b", "prefix": "p/", "keys": [{"key": "p/a", "size": 1, "etag": "e"}]}
        assert make().execute_complete({}, {"status": "success", "xcom": xcom}) == xcom

    @pytest.mark.parametrize(
        ("event", "soft_fail", "expected"),
        [
            pytest.param({"status": "timeout", "message": "m"}, False, AirflowSensorTimeout, id="timeout"),
            pytest.param(
                {"status": "timeout", "message": "m"}, True, AirflowSkipException, id="timeout-soft"
            ),
            pytest.param(
                {"status": "error", "config_error": True, "message": "m"},
                True,
                AirflowFailException,
                id="config-error-soft",
            ),
            pytest.param(
                {"status": "error", "config_error": False, "message": "m"},
                True,
                AirflowException,
                id="transient-error",
            ),
            pytest.param({"status": "what"}, False, AirflowException, id="unknown"),
        ],
    )
    def test_failure_events(self, event, soft_fail, expected):
        with pytest.raises(expected) as raised:
            make(soft_fail=soft_fail).resume_execution("execute_complete", {"event": event}, {})
        if expected is not AirflowSkipException:
            assert not isinstance(raised.value, AirflowSkipException)

    def test_trigger_crash_is_not_skipped(self):
        with pytest.raises(TaskDeferralError):
            make(soft_fail=True).resume_execution("__fail__", {"error": "Trigger failure"}, {})


def test_example_dag_wires_the_sensor_into_the_loader():
    import runpy
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "examples" / "dags" / "example_s3_arrival.py"
    dag = runpy.run_path(str(path))["dag"]
    sensor = dag.get_task("wait_for_sales")
    loader = dag.get_task("load_sales")
    assert isinstance(sensor, S3ArrivalSensor)
    assert sensor.deferrable is True
    assert sensor.exclude_loaded_into == "public.sales"
    assert [t.task_id for t in loader.upstream_list] == ["wait_for_sales"]
    assert loader.s3_keys.operator is sensor, "the loader reads the sensor's XCom"


def test_docs_snippets_match_the_example_dag():
    from tests.doc_snippets import assert_page_includes

    assert_page_includes("s3-arrival.md", ["howto_s3_arrival_sensor", "howto_s3_arrival_to_loader"])
