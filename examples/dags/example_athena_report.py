"""Publish a daily sales report from Athena to S3, as CSV and as JSON Lines.

The query lives in ``sql/athena_daily_sales.sql`` next to this file and is rendered with Jinja.
"""

from __future__ import annotations

from datetime import datetime

from airflow_sales_provider.operators.athena_report import AthenaReportOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

with DAG(
    dag_id="example_athena_report",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    default_args={"owner": "sales-data", "retries": 2},
    tags=["sales", "athena", "example"],
) as dag:
    # [START howto_athena_report]
    daily_sales_csv = AthenaReportOperator(
        task_id="daily_sales_csv",
        sql="sql/athena_daily_sales.sql",  # a .sql file, rendered as a template
        database="sales",
        output_location="s3://athena-results/daily_sales/",
        report_s3_uri="s3://reports/daily_sales/{{ ds }}.csv",
        max_bytes_scanned=10 * 1024**3,  # stop the query (and fail) past 10 GiB scanned
        aws_conn_id="aws_default",
    )

    daily_sales_jsonl = AthenaReportOperator(
        task_id="daily_sales_jsonl",
        sql="sql/athena_daily_sales.sql",
        database="sales",
        output_location="s3://athena-results/daily_sales/",
        report_s3_uri="s3://reports/daily_sales/{{ ds }}.jsonl",
        report_format="jsonl",  # streamed part by part, never held in memory
        max_bytes_scanned=10 * 1024**3,
        deferrable=True,  # wait in the triggerer
        poll_interval=5,
    )
    # [END howto_athena_report]

    daily_sales_csv >> daily_sales_jsonl
