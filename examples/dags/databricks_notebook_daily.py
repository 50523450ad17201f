"""Run a Databricks notebook on an existing cluster every day (``DatabricksSubmitRunOperator``).

Needs the databricks provider: ``pip install "airflow-sales-provider[databricks]"``. The notebook path
and the cluster id come from the JSON Variable ``databricks_notebook_daily``
(``{"notebook_path": "/Repos/sales/daily_sales", "cluster_id": "0301-123456-abcde123"}``), read when
the task runs; the workspace and its token from the ``databricks_default`` connection. The notebook
gets the logical date as its ``ds`` widget. A failed run turns the task red with Databricks' state
message in the log, and Slack is told.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator

from airflow_sales_provider.notifications.slack import SlackNotifier

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

# [START howto_databricks_notebook_daily]
with DAG(
    dag_id="databricks_notebook_daily",
    schedule="@daily",
    start_date=datetime(2024, 3, 1),
    catchup=False,
    default_args={"owner": "sales-data", "retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["sales", "databricks", "example"],
    doc_md=__doc__,
) as dag:
    run_notebook = DatabricksSubmitRunOperator(
        task_id="run_notebook",
        databricks_conn_id="databricks_default",
        run_name="daily_sales_notebook {{ ds }}",
        tasks=[
            {
                "task_key": "daily_sales_notebook",
                "existing_cluster_id": "{{ var.json.databricks_notebook_daily.cluster_id }}",
                "notebook_task": {
                    "notebook_path": "{{ var.json.databricks_notebook_daily.notebook_path }}",
                    "base_parameters": {"ds": "{{ ds }}"},
                    "source": "WORKSPACE",
                },
            }
        ],
        polling_period_seconds=30,
        on_failure_callback=SlackNotifier(),  # the run page URL is in the task log and XCom
    )
# [END howto_databricks_notebook_daily]
