"""Wait for a day's sales files to finish landing in S3, then load exactly those files.

The sensor waits in the triggerer (no worker slot held), accepts the batch once at least three
stores' CSVs are there and nothing has changed for two minutes, skips files the loader's ledger
already holds, and hands the matched keys (with sizes and ETags) to the loader through XCom.
"""

from __future__ import annotations

from datetime import datetime

from airflow_sales_provider.operators.redshift_load import RedshiftLoadOperator
from airflow_sales_provider.sensors.s3_arrival import S3ArrivalSensor

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

BUCKET = "sales-raw"

with DAG(
    dag_id="example_s3_arrival",
    schedule="@daily",
    start_date=datetime(2024, 3, 1),
    catchup=False,
    default_args={"owner": "sales-data", "retries": 2},
    tags=["sales", "example"],
) as dag:
    # [START howto_s3_arrival_sensor]
    wait_for_sales = S3ArrivalSensor(
        task_id="wait_for_sales",
        bucket=BUCKET,
        prefix="daily/{{ ds }}/",
        pattern="store_*.csv*",  # relative to the prefix; plain or gzip
        min_files=3,  # three stores report every day
        min_size_bytes=1,  # an empty placeholder is not a file
        settle_seconds=120,  # nothing added, removed or rewritten for two minutes
        exclude_loaded_into="public.sales",  # files the loader's ledger holds do not count
        warehouse_conn_id="warehouse_default",
        deferrable=True,  # wait in the triggerer
        poke_interval=60,
        timeout=6 * 60 * 60,
        soft_fail=False,  # True skips on timeout; a missing bucket always fails
    )
    # [END howto_s3_arrival_sensor]

    # [START howto_s3_arrival_to_loader]
    load_sales = RedshiftLoadOperator(
        task_id="load_sales",
        redshift_conn_id="warehouse_default",
        s3_keys=wait_for_sales.output,  # {"bucket", "prefix", "keys"} or {"manifest_uri", ...}
        table="sales",
        schema="public",
    )
    # [END howto_s3_arrival_to_loader]

    wait_for_sales >> load_sales
