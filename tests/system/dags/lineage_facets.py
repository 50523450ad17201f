"""Test DAG: every component once, so the OpenLineage events of real task runs can be checked exactly,
plus the docs' recipe for a SQL-built table (``announce``: the rendered table added to an alias outlet)."""

from __future__ import annotations

from datetime import datetime

from airflow_sales_provider.compat import asset_alias, emit_asset_event
from airflow_sales_provider.lineage import asset_uri
from airflow_sales_provider.lineage.assets import connection_dataset
from airflow_sales_provider.operators.athena_report import AthenaReportOperator
from airflow_sales_provider.operators.data_quality import DataQualityOperator
from airflow_sales_provider.operators.redshift_load import RedshiftLoadOperator
from airflow_sales_provider.sensors.s3_arrival import S3ArrivalSensor

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]

ALIAS = "lineage_facets.lineage_sales"

with DAG(
    dag_id="lineage_facets",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["sales", "test", "lineage"],
) as dag:
    wait = S3ArrivalSensor(
        task_id="wait",
        bucket="lineage-raw",
        prefix="sales/{{ ds }}/",
        min_files=2,
        settle_seconds=0,
        poke_interval=1,
        timeout=60,
        mode="poke",
        deferrable=False,
        warehouse_conn_id="warehouse_default",
    )
    load = RedshiftLoadOperator(
        task_id="load",
        redshift_conn_id="warehouse_default",
        s3_keys=wait.output,
        table="lineage_sales",
        schema="public",
        emit_asset=True,
    )
    check = DataQualityOperator(
        task_id="check",
        conn_id="warehouse_default",
        table="public.lineage_sales",
        checks=[
            {"check": "row_count", "min": 1},
            {"check": "not_null", "column": "sale_id"},
            # fails (3 rows) as a warning: the task succeeds and its facet says which check failed
            {"check": "row_count", "max": 2, "severity": "warn", "name": "at_most_two_rows"},
        ],
        history=True,
    )
    report = AthenaReportOperator(
        task_id="report",
        sql=(
            "WITH day AS (SELECT * FROM sales.orders WHERE order_date = DATE '{{ ds }}') "
            "SELECT s.city, sum(d.amount) FROM day d JOIN ref.stores s ON s.store_id = d.store_id GROUP BY 1"
        ),
        database="sales",
        output_location="s3://athena-results/lineage/",
        report_s3_uri="s3://reports/lineage/{{ ds }}.csv",
        emit_asset=True,
    )

    # docs/lineage.md, "a task whose table is only known at run time"
    @task(outlets=[asset_alias(ALIAS)])
    def announce(schema: str, **context) -> str:
        table = connection_dataset("warehouse_default", "lineage_sales", schema)
        uri = asset_uri(table)
        emit_asset_event(context, ALIAS, uri, {"ds": context["ds"]})
        return uri

    wait >> load >> check >> report
    check >> announce("{{ 'public' }}")
