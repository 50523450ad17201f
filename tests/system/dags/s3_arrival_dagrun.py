"""Test-only DAGs: S3ArrivalSensor deferred (triggerer) and in reschedule mode, handing keys to a task.

The downstream task records what it received in the warehouse, so the test checks the XCom contract
through a real DAG run on either Airflow line.
"""

from __future__ import annotations

from datetime import datetime

from airflow_sales_provider.sensors.s3_arrival import S3ArrivalSensor

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]

BUCKET = "sales-raw"


@task
def record_keys(arrival: dict, dag_run=None) -> int:  # type: ignore[no-untyped-def]
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    hook = PostgresHook(postgres_conn_id="warehouse_default")
    rows = [(dag_run.dag_id, arrival["prefix"], k["key"], k["size"], k["etag"]) for k in arrival["keys"]]
    hook.run(
        [
            "CREATE TABLE IF NOT EXISTS s3_arrival_dagrun "
            "(dag_id text, prefix text, s3_key text, size_bytes bigint, etag text)",
            "DELETE FROM s3_arrival_dagrun WHERE dag_id = %(dag_id)s",
        ],
        parameters={"dag_id": dag_run.dag_id},
    )
    hook.insert_rows(
        "s3_arrival_dagrun", rows, target_fields=["dag_id", "prefix", "s3_key", "size_bytes", "etag"]
    )
    return len(rows)


for dag_id, deferrable in (("s3_arrival_deferred", True), ("s3_arrival_reschedule", False)):
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2024, 1, 1),
        catchup=False,
        tags=["sales", "test"],
    ) as dag:
        arrival = S3ArrivalSensor(
            task_id="wait_for_sales",
            bucket=BUCKET,
            prefix="arrival/{{ ds }}/",
            pattern="*.csv",
            min_files=2,
            settle_seconds=1,
            poke_interval=1,
            timeout=120,
            deferrable=deferrable,
        )
        record_keys(arrival.output)
    globals()[dag_id] = dag
