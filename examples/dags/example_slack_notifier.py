"""Slack notifications for a daily pipeline: a run summary on failure, a retry ping, a report on success.

- DAG level: ``SlackNotifier(summary=True)`` as ``on_failure_callback`` posts ONE message per failed run,
  listing the failed and retried tasks and any failed / warned data-quality checks.
- Task level: a notifier with a custom text as ``on_retry_callback`` of the load task.
- The last task, ``SlackNotifyOperator``, reports a successful run (with its data-quality warnings).

Every message goes to the ``slack_webhook_default`` connection (type ``sales_slack_webhook``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow_sales_provider.notifications.slack import SlackNotifier
from airflow_sales_provider.operators.slack import SlackNotifyOperator

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]

# [START howto_slack_notifier_summary]
run_summary = SlackNotifier(slack_webhook_conn_id="slack_webhook_default", summary=True)

with DAG(
    dag_id="example_slack_notifier",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    on_failure_callback=run_summary,
    default_args={"owner": "sales-data", "retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["sales", "example", "slack"],
) as dag:
    # [END howto_slack_notifier_summary]

    @task
    def extract(ds: str | None = None) -> int:
        return 120  # rows found for the day

    # [START howto_slack_notifier_task]
    @task(
        on_retry_callback=SlackNotifier(
            text=":hourglass: `{{ ti.task_id }}` for {{ ds }} is retrying "
            "({{ slack_summary.exception_type }}); no action needed yet.",
        ),
    )
    def load(rows: int) -> int:
        return rows

    # [END howto_slack_notifier_task]

    # [START howto_slack_notify_operator]
    notify = SlackNotifyOperator(
        task_id="notify",
        text="Daily sales for {{ ds }} are loaded.",
        trigger_rule="all_success",  # failures are reported once, by the DAG's run summary
    )
    # [END howto_slack_notify_operator]

    load(extract()) >> notify
