"""SlackNotifier and SlackNotifyOperator in real DAG runs (dag.test()) against the sandbox's Slack receiver.

Checked on both lines: dag.test() runs task callbacks (success, retry, failure) in-process and DAG
callbacks from its own ``update_state`` loop (Airflow 3 copies ``on_success_callback`` /
``on_failure_callback`` onto the scheduler DAG for that). Retries run because the tasks use
``retry_delay=0``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from airflow_sales_provider.compat import tasks_see_try_numbers
from airflow_sales_provider.notifications.slack_message import TRIES_UNKNOWN
from airflow_sales_provider.sandbox import Reply
from tests.system.dagrun import run_dag

pytestmark = [pytest.mark.system, pytest.mark.integration]

FILE = "slack_callbacks.py"
LOGICAL_DATE = datetime(2024, 3, 1, tzinfo=timezone.utc)


@pytest.fixture
def slack_conn(monkeypatch, slack_receiver):
    """Point the test DAGs' ``slack_test`` connection at the receiver, with short delivery budgets."""

    def set_conn(**extra):
        conn = {"conn_type": "sales_slack_webhook", "password": slack_receiver.webhook_url, "extra": extra}
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_TEST", json.dumps(conn))

    set_conn(timeout=2, max_delivery_time=6)
    return set_conn


def header(message: dict) -> str:
    return message["blocks"][0]["text"]["text"]


def block_texts(message: dict) -> str:
    parts = []
    for block in message["blocks"]:
        if "text" in block and isinstance(block["text"], dict):
            parts.append(block["text"]["text"])
        for field in block.get("fields", []):
            parts.append(field["text"])
    return "\n".join(parts)


def button_url(message: dict) -> str | None:
    for block in message["blocks"]:
        if block["type"] == "actions":
            return block["elements"][0]["url"]
    return None


def test_task_callbacks_post_success_retry_and_failure(airflow_db, slack_conn, slack_receiver, all_output):
    result = run_dag("slack_task_callbacks", FILE, LOGICAL_DATE)

    assert result.state == "failed"
    assert result.task_states == {"check_quality": "success", "flaky": "success", "load": "failed"}
    by_header = {header(m): m for m in slack_receiver.messages}
    assert sorted(by_header) == sorted(
        [
            ":white_check_mark: Succeeded: slack_task_callbacks › check_quality",
            ":repeat: Up for retry: slack_task_callbacks › flaky",
            ":white_check_mark: Succeeded: slack_task_callbacks › flaky",
            ":x: Failed: slack_task_callbacks › load",
        ]
    )

    retry = by_header[":repeat: Up for retry: slack_task_callbacks › flaky"]
    assert "*Task*\n`flaky` (try 1 of 2)" in block_texts(retry)
    assert "*ConnectionResetError*" in block_texts(retry)
    assert "Up for retry: slack_task_callbacks › flaky (try 1 of 2)" in retry["text"]
    # Data-quality results of the task itself and of its upstream tasks are listed.
    assert "(task `check_quality`): 1 failed, 1 warned of 3 checks" in block_texts(retry)
    own = by_header[":white_check_mark: Succeeded: slack_task_callbacks › check_quality"]
    assert "(task `check_quality`): 1 failed, 1 warned of 3 checks" in block_texts(own)

    failure = by_header[":x: Failed: slack_task_callbacks › load"]
    texts = block_texts(failure)
    assert "*DAG*\n`slack_task_callbacks`" in texts
    assert f"*Run*\n`{result.run_id}`" in texts
    assert "*Logical date*\n2024-03-01T00:00:00+00:00" in texts
    assert "*ValueError*\n```COPY failed: row 7 has a bad amount;" in texts
    exception_block = next(
        b for b in failure["blocks"] if "*ValueError*" in b.get("text", {}).get("text", "")
    )
    assert len(exception_block["text"]["text"]) <= 3000  # a ~5,000-character message, truncated
    assert exception_block["text"]["text"].endswith("…```")
    assert "ValueError: COPY failed" in failure["text"]
    # The data-quality results pushed by check_quality are listed: the failed and the warned check.
    assert "*Data quality* on `public.sales` (task `check_quality`): 1 failed, 1 warned of 3 checks" in texts
    assert "`amount_not_null` not_null(amount): observed `4`, expected `&lt;= 0`" in texts
    assert "`store_in_range` range(store_id)" in texts
    assert "sales_not_empty" not in texts
    assert button_url(failure).startswith("http://airflow.example.test/dags/slack_task_callbacks")

    success = by_header[":white_check_mark: Succeeded: slack_task_callbacks › flaky"]
    assert "*Task*\n`flaky` (try 2 of 2)" in block_texts(success)

    output = all_output()
    assert slack_receiver.token not in output
    assert slack_receiver.webhook_url not in output


def test_summary_mode_posts_one_message_per_run(airflow_db, slack_conn, slack_receiver, all_output):
    result = run_dag("slack_summary", FILE, LOGICAL_DATE)

    assert result.state == "failed"
    assert result.task_states["publish"] == "upstream_failed"
    assert len(slack_receiver.messages) == 1, [m["text"] for m in slack_receiver.messages]
    message = slack_receiver.messages[0]
    # The custom text template, rendered with the summary and the Airflow context.
    assert message["text"] == "Failed: slack_summary for 2024-03-01 (2 failed)"
    assert header(message) == ":x: Failed: slack_summary"
    texts = block_texts(message)
    assert "Failed: slack_summary for 2024-03-01 (2 failed)" in texts
    assert "*Failed tasks (2)*\n• `load` — failed\n• `publish` — upstream failed" in texts
    assert "*Retried tasks (1)*\n• `flaky` — 2 tries" in texts
    assert "*Reason*\ntask failure" in texts
    assert "1 failed, 1 warned of 3 checks" in texts
    assert button_url(message).startswith("http://airflow.example.test/dags/slack_summary/")
    assert slack_receiver.token not in all_output()


def test_notify_task_and_dag_success_callback(airflow_db, slack_conn, slack_receiver):
    # The first post is rate limited: it is delivered once, after Retry-After.
    slack_receiver.respond_with(Reply(429, retry_after=1))
    result = run_dag("slack_notify_task", FILE, LOGICAL_DATE)

    assert result.state == "success"
    assert result.task_states == {"check_quality": "success", "flaky": "success", "notify": "success"}
    assert [p.status for p in slack_receiver.posts] == [429, 200, 200]
    assert slack_receiver.posts[1].received_at - slack_receiver.posts[0].received_at >= 1.0
    notify, dag_success = slack_receiver.messages
    assert slack_receiver.posts[0].json == notify  # the same message, delivered once
    for message in (notify, dag_success):
        assert header(message) == ":white_check_mark: Succeeded: slack_notify_task"
        texts = block_texts(message)
        if message is notify and not tasks_see_try_numbers():  # Airflow 3.0.x: said, not silently dropped
            assert TRIES_UNKNOWN in texts and "Retried tasks (" not in texts
        else:
            assert "*Retried tasks (1)*\n• `flaky` — 2 tries" in texts
        assert "1 failed, 1 warned of 3 checks" in texts
        assert "Failed tasks" not in texts
    assert "`notify`" not in block_texts(notify)  # the notify task leaves itself out


def test_undeliverable_message_warns_and_the_task_succeeds(
    airflow_db, slack_conn, slack_receiver, all_output
):
    slack_conn(timeout=1, max_delivery_time=2)
    slack_receiver.default = Reply(500, body="internal_error")

    result = run_dag("slack_notify_task", FILE, LOGICAL_DATE)

    assert result.state == "success"
    assert result.task_states["notify"] == "success"
    assert len(slack_receiver.posts) >= 2  # retried
    assert slack_receiver.messages == []
    output = all_output()
    assert "Slack notification not delivered after" in output
    assert "HTTP 500: internal_error" in output
    assert slack_receiver.token not in output


def test_fail_on_error_fails_the_notify_task(airflow_db, slack_conn, slack_receiver, all_output):
    slack_conn(timeout=1, max_delivery_time=1.5)
    slack_receiver.default = Reply(503, body="service_unavailable")

    result = run_dag("slack_notify_strict", FILE, LOGICAL_DATE)

    assert result.task_states == {"notify": "failed"}
    output = all_output()
    assert "Slack notification not delivered after" in output
    assert "HTTP 503: service_unavailable" in output
    assert slack_receiver.token not in output


def test_example_dag_reports_a_successful_run(airflow_db, slack_receiver):
    # The example uses slack_webhook_default, which the sandbox points at its receiver.
    result = run_dag("example_slack_notifier", "example_slack_notifier.py", LOGICAL_DATE)

    assert result.state == "success"
    assert result.task_states == {"extract": "success", "load": "success", "notify": "success"}
    (message,) = slack_receiver.messages  # the notify task only: the run summary is for failures
    assert message["text"] == "Daily sales for 2024-03-01 are loaded."
    assert header(message) == ":white_check_mark: Succeeded: example_slack_notifier"
    assert "Daily sales for 2024-03-01 are loaded." in block_texts(message)


def test_real_data_quality_results_are_listed(airflow_db, slack_conn, slack_receiver, warehouse):
    with warehouse.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS slack_dq_sales")
        cur.execute("CREATE TABLE slack_dq_sales (sale_date date, amount numeric, quantity integer)")
        cur.execute(
            "INSERT INTO slack_dq_sales VALUES ('2024-03-01', 10, 1), ('2024-03-01', NULL, 500), "
            "('2024-03-01', NULL, 2), ('2024-02-29', NULL, 1)"
        )
    try:
        result = run_dag("slack_data_quality", "slack_data_quality.py", LOGICAL_DATE)
    finally:
        with warehouse.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS slack_dq_sales")

    assert result.task_states == {"check_sales": "failed"}  # the not_null check has severity fail
    (message,) = slack_receiver.messages
    texts = block_texts(message)
    assert "*Failed tasks (1)*\n• `check_sales` — failed" in texts
    assert (
        "*Data quality* on `public.slack_dq_sales` where `sale_date` = `2024-03-01` (task `check_sales`): "
        "1 failed, 1 warned of 3 checks" in texts
    )
    assert ":x: `not_null_amount` not_null(amount): observed `2`" in texts  # partition 2024-03-01 only
    assert ":warning: `range_quantity` range(quantity): observed `" in texts
    assert "row_count" not in texts
