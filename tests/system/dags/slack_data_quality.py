"""Test-only DAG: the real DataQualityOperator pushes its results, SlackNotifier's run summary lists them.

The table ``slack_dq_sales`` is created by the test; connection ``slack_test`` is set by the test.
"""

from __future__ import annotations

from datetime import datetime

from airflow_sales_provider.notifications.slack import SlackNotifier
from airflow_sales_provider.operators.data_quality import DataQualityOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

run_summary = SlackNotifier(slack_webhook_conn_id="slack_test", summary=True)

with DAG(
    dag_id="slack_data_quality",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    on_failure_callback=run_summary,
    on_success_callback=run_summary,
) as dag:
    DataQualityOperator(
        task_id="check_sales",
        conn_id="warehouse_default",
        table="public.slack_dq_sales",
        partition={"column": "sale_date", "value": "{{ ds }}"},
        checks=[
            {"check": "row_count", "min": 1},
            {"check": "not_null", "column": "amount"},
            {"check": "range", "column": "quantity", "max": 100, "severity": "warn"},
        ],
    )
