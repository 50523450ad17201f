"""Smoke pipeline: wait for a file in S3 (deferred), look at it in Python, record it in the warehouse.

It proves the local set-up end to end: the moto server, the triggerer path (aiobotocore), task
XCom, and a SQL task against the warehouse connection.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

from airflow_sales_provider.sensors.s3_arrival import S3ArrivalSensor

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]

BUCKET = "sales-raw"

with DAG(
    dag_id="sales_smoke",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    default_args={"owner": "sales-data", "retries": 2},
    tags=["sales", "smoke"],
) as dag:
    wait_for_file = S3ArrivalSensor(
        task_id="wait_for_file",
        bucket=BUCKET,
        prefix="smoke/{{ ds }}/",
        pattern="ready.csv",
        settle_seconds=1,
        aws_conn_id="aws_default",
        deferrable=True,
        poke_interval=1,
        timeout=120,
    )

    @task
    def count_lines(arrival: dict) -> int:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        (ready,) = arrival["keys"]  # the sensor hands over the matched keys with size and ETag
        body = S3Hook(aws_conn_id="aws_default").read_key(ready["key"], bucket_name=arrival["bucket"])
        return len(body.splitlines())

    lines = count_lines(wait_for_file.output)

    record = SQLExecuteQueryOperator(
        task_id="record_arrival",
        conn_id="warehouse_default",
        sql=[
            "CREATE TABLE IF NOT EXISTS smoke_arrivals (ds date PRIMARY KEY, line_count integer NOT NULL)",
            "DELETE FROM smoke_arrivals WHERE ds = %(ds)s",
            "INSERT INTO smoke_arrivals (ds, line_count) VALUES (%(ds)s, %(lines)s)",
        ],
        parameters={"ds": "{{ ds }}", "lines": "{{ ti.xcom_pull(task_ids='count_lines') }}"},
        split_statements=False,
    )

    wait_for_file >> lines >> record
