"""SlackNotifier called directly against the receiver: custom text / blocks templates, bad blocks, async."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_sales_provider.notifications.slack import SlackNotifier
from airflow_sales_provider.sandbox import Reply

pytestmark = pytest.mark.integration


def context(**extra):
    """The keys a task callback context always has, without a task instance (no metadata DB needed)."""
    return {"dag": None, "ti": None, "run_id": None, "ds": "2024-03-01", **extra}


def test_custom_blocks_are_rendered_as_templates(slack_receiver):
    blocks = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "Sales for *{{ ds }}*: {{ slack_summary.status_word }}"},
        }
    ]
    SlackNotifier(text="sales {{ ds }}", blocks=blocks, include_data_quality=False)(context())

    (message,) = slack_receiver.messages
    assert message == {
        "text": "sales 2024-03-01",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "Sales for *2024-03-01*: Succeeded"}}
        ],
    }


def test_blocks_from_a_json_template(slack_receiver):
    blocks = json.dumps([{"type": "header", "text": {"type": "plain_text", "text": "Run of {{ ds }}"}}])
    SlackNotifier(blocks=blocks, include_data_quality=False)(context())

    (message,) = slack_receiver.messages
    assert message["blocks"] == [
        {"type": "header", "text": {"type": "plain_text", "text": "Run of 2024-03-01"}}
    ]


def test_bad_blocks_fall_back_to_the_default_message(slack_receiver, all_output):
    SlackNotifier(blocks="[{ not json", include_data_quality=False)(context(exception=KeyError("sku")))

    (message,) = slack_receiver.messages
    assert message["blocks"][0]["type"] == "header"
    assert "*KeyError*" in json.dumps(message)
    expected = "Custom Slack blocks ignored, default blocks sent instead: blocks is not valid JSON"
    assert expected in all_output()


def test_an_undeliverable_message_is_a_warning(slack_receiver, all_output):
    slack_receiver.default = Reply(500, body="internal_error")

    SlackNotifier(max_delivery_time=1, include_data_quality=False)(context())  # must not raise

    output = all_output()
    assert "Slack notification not delivered after" in output
    assert slack_receiver.token not in output


def test_async_notify_for_the_triggerer(slack_receiver):
    notifier = SlackNotifier(text="from the triggerer", include_data_quality=False)

    asyncio.run(notifier.async_notify(context()))

    assert [m["text"] for m in slack_receiver.messages] == ["from the triggerer"]
