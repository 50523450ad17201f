"""Test DAG: stands in for the daily sales pipeline's aggregate step, writing ``sales.daily_store_sales``.

The real loader with ``emit_asset=True``: a successful run emits the asset event for the table that
``sales_daily_report`` (examples/dags) is scheduled on.
"""

from __future__ import annotations

from datetime import datetime

from airflow_sales_provider.operators.redshift_load import RedshiftLoadOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

with DAG(
    dag_id="sales_daily_upstream",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["sales", "test"],
) as dag:
    RedshiftLoadOperator(
        task_id="load_daily_store_sales",
        redshift_conn_id="warehouse_default",
        s3_bucket="sales-curated",
        s3_prefix="aggregates/daily_store_sales/{{ ds }}/",
        schema="sales",
        table="daily_store_sales",
        mode="replace_partition",
        partition_column="sale_date",
        partition_value="{{ ds }}",
        ledger_table="sales.lineage_test_ledger",
        emit_asset=True,
    )
