"""SalesSlackWebhookHook against the sandbox's Slack receiver: delivery, retries, time bounds, secrets."""

from __future__ import annotations

import json
import re
import socket
import time

import pytest

from airflow_sales_provider.hooks.slack_webhook import SalesSlackWebhookHook, WebhookConfigError
from airflow_sales_provider.notifications.slack_message import RunSummary, build_message
from airflow_sales_provider.sandbox import Reply

pytestmark = pytest.mark.integration

PAYLOAD = build_message(RunSummary(status="success", dag_id="sales_daily", run_id="manual__1"))


def set_conn(monkeypatch, conn_id: str, **conn) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "sales_slack_webhook", **conn})
    )


@pytest.fixture
def hook(monkeypatch, slack_receiver):
    set_conn(monkeypatch, "slack_it", password=slack_receiver.webhook_url, extra={"timeout": 2})
    return SalesSlackWebhookHook("slack_it", max_delivery_time=8, backoff_factor=0.2)


def settle(receiver, attempts: int) -> None:
    """Wait for hung requests to be recorded (the receiver records them after its hang), then forget them,
    so they do not show up in a later test's posts."""
    deadline = time.monotonic() + 8
    while len(receiver.posts) < attempts and time.monotonic() < deadline:
        time.sleep(0.1)
    receiver.clear()


class TestDelivery:
    def test_posts_the_payload_once(self, hook, slack_receiver):
        result = hook.send(PAYLOAD)

        assert result.delivered and result.attempts == 1 and result.status_code == 200
        assert slack_receiver.messages == [PAYLOAD]
        assert slack_receiver.posts[0].path == f"/services/{slack_receiver.token}"

    def test_bare_token_is_joined_to_the_host(self, monkeypatch, slack_receiver):
        set_conn(
            monkeypatch,
            "slack_token",
            host=f"{slack_receiver.base_url}/services/",
            password=slack_receiver.token,
        )
        result = SalesSlackWebhookHook("slack_token").send(PAYLOAD)

        assert result.delivered
        assert slack_receiver.posts[0].path == f"/services/{slack_receiver.token}"

    def test_429_waits_for_retry_after_then_delivers_exactly_once(self, hook, slack_receiver):
        slack_receiver.respond_with(Reply(429, retry_after=1), 200)

        result = hook.send(PAYLOAD)

        assert result.delivered and result.attempts == 2
        assert [p.status for p in slack_receiver.posts] == [429, 200]
        assert slack_receiver.messages == [PAYLOAD]
        assert slack_receiver.posts[1].received_at - slack_receiver.posts[0].received_at >= 1.0

    def test_retry_after_past_the_budget_gives_up_at_once(self, monkeypatch, slack_receiver):
        set_conn(monkeypatch, "slack_it", password=slack_receiver.webhook_url)
        slack_receiver.respond_with(Reply(429, retry_after=30))
        started = time.monotonic()

        result = SalesSlackWebhookHook("slack_it", max_delivery_time=5).send(PAYLOAD)

        assert not result.delivered and result.status_code == 429 and result.attempts == 1
        assert time.monotonic() - started < 2
        assert len(slack_receiver.posts) == 1

    def test_5xx_retries_with_backoff_then_delivers(self, hook, slack_receiver):
        slack_receiver.respond_with(500, 503)

        result = hook.send(PAYLOAD)

        assert result.delivered and result.attempts == 3
        assert [p.status for p in slack_receiver.posts] == [500, 503, 200]
        assert slack_receiver.messages == [PAYLOAD]

    def test_persistent_500_is_bounded_and_reported_not_raised(self, monkeypatch, slack_receiver):
        set_conn(monkeypatch, "slack_it", password=slack_receiver.webhook_url)
        slack_receiver.default = Reply(500, body="internal_error")
        started = time.monotonic()

        result = SalesSlackWebhookHook("slack_it", max_delivery_time=3, backoff_factor=0.2).send(PAYLOAD)

        assert not result.delivered and result.status_code == 500
        assert result.attempts >= 3
        assert result.error == "HTTP 500: internal_error"
        assert time.monotonic() - started <= 3.5

    def test_client_errors_are_not_retried(self, hook, slack_receiver):
        slack_receiver.respond_with(Reply(400, body="invalid_blocks"))

        result = hook.send(PAYLOAD)

        assert not result.delivered and result.attempts == 1
        assert result.error == "HTTP 400: invalid_blocks"

    def test_hanging_receiver_is_bounded_by_the_timeout(self, monkeypatch, slack_receiver):
        set_conn(monkeypatch, "slack_it", password=slack_receiver.webhook_url)
        slack_receiver.default = Reply(hang=4)
        started = time.monotonic()

        result = SalesSlackWebhookHook("slack_it", timeout=1, max_delivery_time=2.5).send(PAYLOAD)

        elapsed = time.monotonic() - started
        assert not result.delivered and result.status_code is None
        assert "timed out" in (result.error or "")
        assert 2.0 <= elapsed <= 3.5
        settle(slack_receiver, result.attempts)

    def test_connection_refused_retries_within_the_budget(self, monkeypatch):
        with socket.socket() as probe:  # a loopback port nobody listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        set_conn(
            monkeypatch, "slack_down", password=f"http://127.0.0.1:{port}/services/T1/B1/abcdefgh12345678"
        )
        started = time.monotonic()

        result = SalesSlackWebhookHook("slack_down", max_delivery_time=2, backoff_factor=0.1).send(PAYLOAD)

        assert not result.delivered and result.attempts >= 2
        assert time.monotonic() - started <= 2.5


class TestSecrets:
    def test_token_never_reaches_logs_or_errors(self, monkeypatch, slack_receiver, all_output):
        set_conn(monkeypatch, "slack_it", password=slack_receiver.webhook_url)
        slack_receiver.respond_with(
            Reply(429, retry_after=0.2), Reply(500, body=f"echo {slack_receiver.token}")
        )
        slack_receiver.default = Reply(hang=3)

        result = SalesSlackWebhookHook("slack_it", timeout=1, max_delivery_time=3, backoff_factor=0.1).send(
            PAYLOAD
        )

        assert not result.delivered
        assert len(slack_receiver.posts) >= 2  # the token was really used
        # Even a server echoing the token back does not get it into the error text.
        assert slack_receiver.token not in (result.error or "")
        output = all_output()
        assert "Slack webhook attempt" in output  # retries were logged...
        assert slack_receiver.token not in output  # ...without the token, even at DEBUG
        assert slack_receiver.webhook_url not in output
        settle(slack_receiver, result.attempts)

    def test_webhook_url_and_token_are_registered_with_the_secrets_masker(self, hook, slack_receiver):
        from airflow_sales_provider.compat import redact

        assert hook.webhook_url == slack_receiver.webhook_url
        assert slack_receiver.token not in redact(f"posting to {slack_receiver.webhook_url}")
        assert slack_receiver.token not in redact(f"token {slack_receiver.token}")

    @pytest.mark.parametrize(
        ("password", "expected"),
        [
            pytest.param("", "no webhook URL or token", id="empty"),
            pytest.param("not a token s3cr3t-value", "neither an http(s) URL nor a token", id="garbage"),
            pytest.param("T1/B2/s3cr3t-value/extra", "neither an http(s) URL nor a token", id="four-parts"),
        ],
    )
    def test_bad_connection_errors_say_what_without_the_secret(self, monkeypatch, password, expected):
        set_conn(monkeypatch, "slack_bad", password=password)

        with pytest.raises(WebhookConfigError, match=re.escape(expected)) as excinfo:
            SalesSlackWebhookHook("slack_bad").send(PAYLOAD)

        assert "s3cr3t" not in str(excinfo.value)


class TestExtras:
    def test_reads_allow_listed_extras_only(self, monkeypatch, slack_receiver):
        set_conn(
            monkeypatch,
            "slack_extra",
            password=slack_receiver.webhook_url,
            extra={"timeout": "3", "max_delivery_time": 12, "headers": {"X": "y"}, "verify": False},
        )
        hook = SalesSlackWebhookHook("slack_extra")

        assert hook.extras == {"timeout": "3", "max_delivery_time": 12}
        assert hook.timeout == 3.0 and hook.max_delivery_time == 12.0

    def test_arguments_win_over_extras(self, monkeypatch, slack_receiver):
        set_conn(monkeypatch, "slack_extra", password=slack_receiver.webhook_url, extra={"timeout": 3})

        assert SalesSlackWebhookHook("slack_extra", timeout=1.5).timeout == 1.5

    def test_defaults_keep_delivery_within_a_minute(self, monkeypatch, slack_receiver):
        set_conn(monkeypatch, "slack_plain", password=slack_receiver.webhook_url)
        hook = SalesSlackWebhookHook("slack_plain")

        assert hook.timeout == 10.0 and hook.max_delivery_time == 60.0

    def test_bad_extra_gives_a_clear_error(self, monkeypatch, slack_receiver):
        set_conn(monkeypatch, "slack_extra", password=slack_receiver.webhook_url, extra={"timeout": "soon"})

        with pytest.raises(WebhookConfigError, match="timeout must be a number of seconds, got 'soon'"):
            SalesSlackWebhookHook("slack_extra").send(PAYLOAD)
