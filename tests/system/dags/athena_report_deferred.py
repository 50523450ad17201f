"""Test-only DAG: an Athena report that really defers (fast polling), run by test_athena_report_dag."""

from __future__ import annotations

from datetime import datetime

from airflow_sales_provider.operators.athena_report import AthenaReportOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

with DAG(
    dag_id="athena_report_deferred",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["sales", "athena", "test"],
) as dag:
    AthenaReportOperator(
        task_id="report",
        sql="SELECT store_id, revenue FROM sales.daily WHERE day = DATE '{{ ds }}'",
        output_location="s3://athena-results/deferred/",
        report_s3_uri="s3://reports/deferred/{{ ds }}.jsonl",
        report_format="jsonl",
        deferrable=True,
        poll_interval=0.2,
    )
