"""Whole DAG runs (``dag.test()``) with S3ArrivalSensor: deferred through the triggerer path, and in
reschedule mode, while a thread uploads the day's files after a real delay."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from packaging.version import Version

from airflow_sales_provider.compat import AIRFLOW_VERSION
from tests.system.dagrun import observe_arrival_sensor, run_dag

pytestmark = [pytest.mark.integration, pytest.mark.system]

LOGICAL_DATE = datetime(2024, 3, 1, tzinfo=timezone.utc)
PREFIX = "arrival/2024-03-01/"


# Airflow 3.0.x's in-process dag.test() hands a rescheduled sensor its first start date as a string, and
# the SDK's own BaseSensorOperator.run_duration then raises TypeError (datetime - str) on the second poke.
RESCHEDULE_UNDER_DAG_TEST = not (Version("3.0") <= AIRFLOW_VERSION < Version("3.1"))


@pytest.mark.parametrize(
    "dag_id",
    [
        "s3_arrival_deferred",
        pytest.param(
            "s3_arrival_reschedule",
            marks=pytest.mark.skipif(
                not RESCHEDULE_UNDER_DAG_TEST,
                reason="Airflow 3.0.x dag.test() cannot run a rescheduling sensor (its sensor base gets the "
                "first reschedule's start date as a string: TypeError in run_duration); the reschedule "
                "path is tested on Airflow 2.10.x and 3.1+",
            ),
        ),
    ],
)
def test_sensor_waits_then_hands_keys_to_the_next_task(airflow_db, sandbox, warehouse, dag_id, monkeypatch):
    # The files land after the sensor's first look, so it defers or reschedules first.
    observer = observe_arrival_sensor(monkeypatch)
    s3 = sandbox.boto3_client("s3")
    s3.create_bucket(Bucket="sales-raw")
    s3.put_object(Bucket="sales-raw", Key=PREFIX + "notes.txt", Body=b"not a csv")
    stop = threading.Event()

    def upload_later() -> None:
        # After the sensor has looked and found too little, so it defers or reschedules first.
        if not observer.first_look.wait(120) or stop.wait(1):
            return
        s3.put_object(Bucket="sales-raw", Key=PREFIX + "store_1.csv", Body=b"store,amount\n1,10\n")
        s3.put_object(Bucket="sales-raw", Key=PREFIX + "store_2.csv", Body=b"store,amount\n2,20\n")

    uploader = threading.Thread(target=upload_later)
    uploader.start()
    try:
        result = run_dag(dag_id, "s3_arrival_dagrun.py", LOGICAL_DATE)
    finally:
        stop.set()
        uploader.join()

    assert result.state == "success", result.task_states
    assert result.task_states == {"wait_for_sales": "success", "record_keys": "success"}
    etags = {
        key: s3.head_object(Bucket="sales-raw", Key=key)["ETag"].strip('"')
        for key in (PREFIX + "store_1.csv", PREFIX + "store_2.csv")
    }
    with warehouse.cursor() as cursor:
        cursor.execute(
            "SELECT prefix, s3_key, size_bytes, etag FROM s3_arrival_dagrun "
            "WHERE dag_id = %s ORDER BY s3_key",
            (dag_id,),
        )
        assert cursor.fetchall() == [(PREFIX, key, 18, etag) for key, etag in etags.items()]
    if dag_id == "s3_arrival_reschedule":
        assert reschedules(dag_id, result.run_id) >= 1, "the sensor gave its worker slot back between pokes"
        assert observer.trigger_prefixes == []
    else:
        assert observer.trigger_prefixes == [PREFIX], "the sensor deferred and its trigger found the files"


def reschedules(dag_id: str, run_id: str) -> int:
    """How many times the sensor's task instance was rescheduled (released its slot) in this run."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session

    with create_session() as session:
        query = session.query(TaskReschedule)
        if hasattr(TaskReschedule, "ti_id"):  # Airflow 3 links reschedules to the task instance's id
            query = query.join(TaskInstance, TaskInstance.id == TaskReschedule.ti_id)
            query = query.filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        else:
            query = query.filter(TaskReschedule.dag_id == dag_id, TaskReschedule.run_id == run_id)
        return int(query.count())
