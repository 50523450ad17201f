"""Test-only DAGs wiring SlackNotifier / SlackNotifyOperator into real callbacks (run with dag.test()).

All use the connection ``slack_test``, which each test sets (``AIRFLOW_CONN_SLACK_TEST``) to the
sandbox's Slack receiver with the timeouts it needs.
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

CONN = "slack_test"
DQ_RESULT = {
    "table": "public.sales",
    "summary": {"total": 3, "passed": 1, "failed": 1, "warned": 1},
    "checks": [
        {
            "name": "sales_not_empty",
            "check": "row_count",
            "column": None,
            "observed": 120,
            "expected": ">= 1",
            "passed": True,
            "severity": "fail",
            "status": "passed",
        },
        {
            "name": "amount_not_null",
            "check": "not_null",
            "column": "amount",
            "observed": 4,
            "expected": "<= 0",
            "passed": False,
            "severity": "fail",
            "status": "failed",
        },
        {
            "name": "store_in_range",
            "check": "range",
            "column": "store_id",
            "observed": {"min": 1, "max": 1200},
            "expected": {"max": 1000},
            "passed": False,
            "severity": "warn",
            "status": "warned",
        },
    ],
}


def _tasks() -> tuple:
    @task
    def check_quality(ti=None):
        ti.xcom_push(key="data_quality", value=DQ_RESULT)

    @task(retries=1, retry_delay=timedelta(seconds=0))
    def flaky(ti=None):
        if ti.try_number < 2:
            raise ConnectionResetError("warehouse connection reset on first try")

    @task
    def load():
        raise ValueError("COPY failed: " + "row 7 has a bad amount; " * 200)

    return check_quality, flaky, load


# One message per task event: success, retry and failure callbacks on every task.
task_notifier = SlackNotifier(slack_webhook_conn_id=CONN)
with DAG(
    dag_id="slack_task_callbacks",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    default_args={
        "on_success_callback": task_notifier,
        "on_failure_callback": task_notifier,
        "on_retry_callback": task_notifier,
    },
) as task_callbacks_dag:
    check_quality, flaky, load = _tasks()
    check_quality() >> flaky() >> load()


# Summary mode: the same notifier on the DAG and the tasks, one message per run.
summary_notifier = SlackNotifier(
    slack_webhook_conn_id=CONN,
    summary=True,
    text=(
        "{{ slack_summary.status_word }}: {{ dag.dag_id }} for {{ ds }}"
        " ({{ slack_summary.failed_tasks | length }} failed)"
    ),
)
with DAG(
    dag_id="slack_summary",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    on_success_callback=summary_notifier,
    on_failure_callback=summary_notifier,
    default_args={"on_failure_callback": summary_notifier, "on_retry_callback": summary_notifier},
) as summary_dag:
    check_quality, flaky, load = _tasks()

    @task
    def publish():
        return "never runs: load failed"

    check_quality() >> flaky() >> load() >> publish()


# An explicit notify task at the end; the DAG-level notifier on success too.
with DAG(
    dag_id="slack_notify_task",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    on_success_callback=SlackNotifier(slack_webhook_conn_id=CONN),
) as notify_task_dag:
    check_quality, flaky, _ = _tasks()
    check_quality() >> flaky() >> SlackNotifyOperator(task_id="notify", slack_webhook_conn_id=CONN)


# fail_on_error: the one opt-in way a Slack problem fails a task.
with DAG(
    dag_id="slack_notify_strict",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
) as notify_strict_dag:
    SlackNotifyOperator(task_id="notify", slack_webhook_conn_id=CONN, fail_on_error=True)
