"""SlackNotifier / SlackNotifyOperator without a server: never raising, summary mode, templates."""

from __future__ import annotations

import pytest

from airflow_sales_provider.notifications.slack import SlackNotifier, is_dag_level
from airflow_sales_provider.operators.slack import SlackNotifyOperator


@pytest.fixture
def no_slack_conn(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_SLACK_MISSING", raising=False)
    return "slack_missing"


class TestNotifier:
    def test_summary_mode_skips_task_level_calls(self, all_output):
        notifier = SlackNotifier(slack_webhook_conn_id="slack_missing", summary=True)

        notifier({"dag": None, "ti": None, "run_id": "r1"})

        output = all_output()
        assert "summary mode: task-level call skipped" in output
        assert "not sent" not in output

    def test_a_failing_send_is_a_warning_never_an_exception(self, all_output, no_slack_conn):
        notifier = SlackNotifier(slack_webhook_conn_id=no_slack_conn, include_data_quality=False)

        notifier({"dag": None, "ti": None, "run_id": None, "exception": RuntimeError("boom")})  # no raise

        output = all_output()
        assert "Slack notification was not sent" in output
        assert "slack_missing" in output  # says which connection

    def test_rendering_happens_on_a_copy(self, no_slack_conn):
        notifier = SlackNotifier(slack_webhook_conn_id=no_slack_conn, text="run {{ ds }}", blocks="[]")

        notifier({"dag": None, "ti": None, "run_id": None, "ds": "2024-03-01"})

        # The same notifier object serves every task of a DAG: its templates stay templates.
        assert notifier.text == "run {{ ds }}"

    def test_sla_miss_style_calls_are_ignored(self, all_output):
        SlackNotifier()(None, [], [], [], [])
        assert "ignored a 5-argument call" in all_output()

    @pytest.mark.parametrize(
        ("context", "expected"),
        [
            pytest.param({"reason": "success"}, True, id="dag-success"),
            pytest.param({"reason": "task_failure"}, True, id="dag-failure"),
            pytest.param({"ti": object()}, False, id="task"),
        ],
    )
    def test_dag_level_is_told_by_the_reason_key(self, context, expected):
        assert is_dag_level(context) is expected

    def test_templated_fields(self):
        assert SlackNotifier.template_fields == ("slack_webhook_conn_id", "text", "blocks")


class TestNotifyOperator:
    def test_init_only_assigns_and_defaults_to_all_done(self):
        op = SlackNotifyOperator(
            task_id="notify", slack_webhook_conn_id="{{ var.value.slack }}", blocks="{{ x }}"
        )

        assert str(getattr(op.trigger_rule, "value", op.trigger_rule)) == "all_done"
        assert op.slack_webhook_conn_id == "{{ var.value.slack }}"
        assert SlackNotifyOperator.template_fields == ("slack_webhook_conn_id", "text", "blocks")

    def test_trigger_rule_can_be_overridden(self):
        op = SlackNotifyOperator(task_id="notify", trigger_rule="all_success")
        assert str(getattr(op.trigger_rule, "value", op.trigger_rule)) == "all_success"


def test_connection_form_is_the_same_on_both_lines():
    from airflow_sales_provider.get_provider_info import get_provider_info
    from airflow_sales_provider.hooks.slack_webhook import SalesSlackWebhookHook

    (entry,) = [
        c for c in get_provider_info()["connection-types"] if c["connection-type"] == "sales_slack_webhook"
    ]
    declared = entry["ui-field-behaviour"]
    from_hook = SalesSlackWebhookHook.get_ui_field_behaviour()
    assert declared["hidden-fields"] == from_hook["hidden_fields"]
    assert declared["relabeling"] == from_hook["relabeling"]
    assert declared["placeholders"] == from_hook["placeholders"]
