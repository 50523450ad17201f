"""Test-only DAG: the amazon provider's AthenaOperator (DDL, MSCK, a deferred SELECT) against the
sandbox's Athena engine, run by test_sandbox_athena_dag."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.amazon.aws.operators.athena import AthenaOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

OUTPUT = "s3://athena-results/amazon/"

with DAG(
    dag_id="amazon_athena_engine",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["athena", "test"],
) as dag:
    create_database = AthenaOperator(
        task_id="create_database",
        query="CREATE DATABASE IF NOT EXISTS shop",
        database="default",  # older amazon providers require one; CREATE DATABASE does not use it
        output_location=OUTPUT,
        sleep_time=1,
    )
    create_table = AthenaOperator(
        task_id="create_table",
        query=(
            "CREATE EXTERNAL TABLE IF NOT EXISTS shop.orders (order_id int, store string, amount double) "
            "PARTITIONED BY (day string) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' "
            "LOCATION 's3://raw/orders/' TBLPROPERTIES ('skip.header.line.count' = '1')"
        ),
        database="shop",
        output_location=OUTPUT,
        sleep_time=1,
    )
    repair = AthenaOperator(
        task_id="repair",
        query="MSCK REPAIR TABLE orders",
        database="shop",
        output_location=OUTPUT,
        sleep_time=1,
    )
    daily_totals = AthenaOperator(
        task_id="daily_totals",
        query="SELECT store, sum(amount) AS total FROM orders WHERE day = '{{ ds }}' GROUP BY 1 ORDER BY 1",
        database="shop",
        output_location=OUTPUT,
        deferrable=True,
        sleep_time=1,
    )
    create_database >> create_table >> repair >> daily_totals
