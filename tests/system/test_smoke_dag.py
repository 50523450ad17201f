"""The smoke DAG against the sandbox: a deferred S3 wait that really waits, a Python task, a SQL task."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from tests.system.dagrun import observe_arrival_sensor, run_dag

pytestmark = [pytest.mark.system, pytest.mark.integration]

LOGICAL_DATE = datetime(2024, 3, 1, tzinfo=timezone.utc)


def test_smoke_dag_waits_for_the_file_then_records_it(airflow_db, sandbox, warehouse, monkeypatch):
    # The file lands after the sensor's first look, and the trigger must then be the one that finds it.
    observer = observe_arrival_sensor(monkeypatch)
    s3 = sandbox.boto3_client("s3")
    s3.create_bucket(Bucket="sales-raw")
    done = threading.Event()

    def upload_after_the_first_look() -> None:
        if observer.first_look.wait(120) and not done.wait(1):
            s3.put_object(
                Bucket="sales-raw", Key="smoke/2024-03-01/ready.csv", Body=b"store,amount\n1,10\n2,20\n"
            )

    uploader = threading.Thread(target=upload_after_the_first_look)
    uploader.start()
    try:
        result = run_dag("sales_smoke", "sales_smoke.py", LOGICAL_DATE)
    finally:
        done.set()
        uploader.join()

    assert result.state == "success", result.task_states
    assert observer.trigger_prefixes == ["smoke/2024-03-01/"], "the sensor never deferred"
    assert result.task_states == {
        "wait_for_file": "success",
        "count_lines": "success",
        "record_arrival": "success",
    }
    with warehouse.cursor() as cursor:
        cursor.execute("SELECT ds::text, line_count FROM smoke_arrivals")
        assert cursor.fetchall() == [("2024-03-01", 3)]
