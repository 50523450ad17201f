"""The pure Slack message builder: Block Kit and fallback text from a RunSummary, without Airflow running."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from airflow_sales_provider.hooks.slack_webhook import WebhookConfigError, redact, resolve_webhook_url
from airflow_sales_provider.notifications.slack_message import (
    MAX_BLOCKS,
    MAX_FALLBACK_CHARS,
    MAX_FIELD_CHARS,
    MAX_HEADER_CHARS,
    MAX_SECTION_CHARS,
    TRIES_UNKNOWN,
    RunSummary,
    TaskOutcome,
    build_message,
    clamp_blocks,
    fallback_text,
    format_duration,
    parse_blocks,
    parse_data_quality,
    truncate,
)

LOGICAL_DATE = datetime(2024, 3, 1, tzinfo=timezone.utc)
DQ = {
    "table": "public.sales",
    "summary": {"total": 3},
    "checks": [
        {"name": "rows", "check": "row_count", "observed": 10, "expected": ">= 1", "passed": True},
        {
            "name": "amount_not_null",
            "check": "not_null",
            "column": "amount",
            "observed": 4,
            "expected": 0,
            "passed": False,
            "severity": "fail",
            "status": "failed",
        },
        {"name": "store_range", "check": "range", "column": "store_id", "passed": False, "severity": "warn"},
    ],
}


def failure(**overrides) -> RunSummary:
    values = dict(
        status="failed",
        dag_id="sales_daily",
        run_id="scheduled__2024-03-01T00:00:00+00:00",
        logical_date=LOGICAL_DATE,
        task_id="load_sales",
        try_number=2,
        max_tries=2,
        duration=83.4,
        url="http://airflow.example.test/dags/sales_daily/grid?tab=logs",
        exception_type="ValueError",
        exception_message="amount <bad> & worse",
    )
    values.update(overrides)
    return RunSummary(**values)


def texts(message: dict) -> str:
    parts = []
    for block in message["blocks"]:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        parts.extend(f["text"] for f in block.get("fields", []))
    return "\n".join(parts)


class TestDefaultMessage:
    def test_task_failure(self):
        message = build_message(failure())

        assert message["blocks"][0] == {
            "type": "header",
            "text": {"type": "plain_text", "text": ":x: Failed: sales_daily › load_sales", "emoji": True},
        }
        fields = [f["text"] for f in message["blocks"][1]["fields"]]
        assert fields == [
            "*DAG*\n`sales_daily`",
            "*Run*\n`scheduled__2024-03-01T00:00:00+00:00`",
            "*Logical date*\n2024-03-01T00:00:00+00:00",
            "*Task*\n`load_sales` (try 2 of 3)",
            "*Duration*\n1m 23s",
        ]
        # mrkdwn control characters in the exception are escaped.
        assert "*ValueError*\n```amount &lt;bad&gt; &amp; worse```" in texts(message)
        assert message["blocks"][-1]["elements"][0] == {
            "type": "button",
            "text": {"type": "plain_text", "text": "View log", "emoji": True},
            "url": "http://airflow.example.test/dags/sales_daily/grid?tab=logs",
        }
        assert message["text"] == (
            ":x: Failed: sales_daily › load_sales (try 2 of 3)\n"
            "run scheduled__2024-03-01T00:00:00+00:00, "
            "logical date 2024-03-01T00:00:00+00:00, duration 1m 23s\n"
            "ValueError: amount <bad> & worse\n"
            "http://airflow.example.test/dags/sales_daily/grid?tab=logs"
        )

    @pytest.mark.parametrize(
        ("status", "head"),
        [
            pytest.param("success", ":white_check_mark: Succeeded", id="success"),
            pytest.param("up_for_retry", ":repeat: Up for retry", id="retry"),
            pytest.param("failed", ":x: Failed", id="failed"),
            pytest.param("queued", ":grey_question: Queued", id="unknown"),
        ],
    )
    def test_status_emoji_and_word(self, status, head):
        summary = RunSummary(status=status, dag_id="d")
        assert build_message(summary)["blocks"][0]["text"]["text"] == f"{head}: d"

    def test_unknown_try_numbers_say_why_retries_are_not_listed(self):
        summary = RunSummary(status="success", dag_id="d", run_id="r1", tries_unknown=True)
        body = texts(build_message(summary))
        assert TRIES_UNKNOWN in body
        assert "Airflow 3.0.x" in TRIES_UNKNOWN and "Retried tasks not shown" in TRIES_UNKNOWN
        assert TRIES_UNKNOWN not in texts(build_message(RunSummary(status="success", dag_id="d")))

    def test_dag_level_lists_failed_and_retried_tasks_and_links_the_run(self):
        summary = RunSummary(
            status="failed",
            dag_id="sales_daily",
            run_id="r1",
            reason="task_failure",
            url="http://airflow.example.test/dags/sales_daily/runs/r1",
            failed_tasks=(TaskOutcome("load", "failed", 3), TaskOutcome("publish", "upstream_failed", 0)),
            retried_tasks=(TaskOutcome("extract", "success", 2),),
        )
        message = build_message(summary)

        body = texts(message)
        assert "*Failed tasks (2)*\n• `load` — failed, 3 tries\n• `publish` — upstream failed" in body
        assert "*Retried tasks (1)*\n• `extract` — 2 tries" in body
        assert "*Reason*\ntask failure" in body
        assert "*Task*" not in body
        assert message["blocks"][-1]["elements"][0]["text"]["text"] == "View run"
        assert "Failed tasks: load, publish\nRetried tasks: extract" in message["text"]

    def test_no_link_without_a_base_url(self):
        message = build_message(failure(url=None))
        assert all(b["type"] != "actions" for b in message["blocks"])

    def test_mapped_task_is_labelled_with_its_index(self):
        assert build_message(failure(map_index=3))["blocks"][0]["text"]["text"].endswith("load_sales[3]")


class TestDataQuality:
    def test_lists_failed_and_warned_checks_only(self):
        report = parse_data_quality("dq", DQ)
        message = build_message(failure(data_quality=(report,)))

        body = texts(message)
        assert "*Data quality* on `public.sales` (task `dq`): 1 failed, 1 warned of 3 checks" in body
        assert ":x: `amount_not_null` not_null(amount): observed `4`, expected `0`" in body
        assert ":warning: `store_range` range(store_id): observed `null`, expected `null`" in body
        assert "`rows`" not in body
        assert "Data quality (public.sales): 1 failed, 1 warned" in message["text"]

    def test_the_partition_checked_is_shown(self):
        report = parse_data_quality("dq", {**DQ, "partition": {"column": "sale_date", "value": "2024-03-01"}})
        body = texts(build_message(failure(data_quality=(report,))))
        assert "*Data quality* on `public.sales` where `sale_date` = `2024-03-01` (task `dq`)" in body

    def test_all_passed_adds_nothing(self):
        report = parse_data_quality("dq", {"checks": [DQ["checks"][0]]})
        assert "Data quality" not in texts(build_message(failure(data_quality=(report,))))

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param(None, id="none"),
            pytest.param("passed", id="string"),
            pytest.param({"summary": {}}, id="no-checks"),
            pytest.param({"checks": "all good"}, id="checks-not-a-list"),
        ],
    )
    def test_values_not_shaped_like_results_are_ignored(self, value):
        assert parse_data_quality("dq", value) is None

    @pytest.mark.parametrize(
        ("check", "status"),
        [
            pytest.param({"status": "FAILED"}, "failed", id="status-wins"),
            pytest.param({"status": "warn", "passed": False}, "warned", id="warn-status"),
            pytest.param({"passed": False}, "failed", id="fail-by-default"),
            pytest.param({"passed": False, "severity": "warn"}, "warned", id="warn-severity"),
            pytest.param({"passed": True, "severity": "warn"}, "passed", id="passed"),
        ],
    )
    def test_status_normalisation(self, check, status):
        report = parse_data_quality("dq", {"checks": [{"name": "c", **check}]})
        assert report is not None and report.checks[0].status == status

    def test_long_lists_are_cut_with_a_count(self):
        checks = [{"name": f"c{i}", "check": "not_null", "passed": False} for i in range(40)]
        report = parse_data_quality("dq", {"checks": checks})
        body = texts(build_message(failure(data_quality=(report,))))
        assert "… and 25 more" in body


class TestLimits:
    def test_long_values_are_truncated_not_rejected(self):
        summary = failure(
            dag_id="d" * 300,
            task_id="t" * 300,
            run_id="r" * 5000,
            exception_message="x" * 50_000,
            data_quality=(parse_data_quality("dq", {"checks": [{"name": "n" * 5000, "passed": False}]}),),
        )
        message = build_message(summary)

        assert len(message["blocks"][0]["text"]["text"]) == MAX_HEADER_CHARS
        assert all(len(f["text"]) <= MAX_FIELD_CHARS for f in message["blocks"][1]["fields"])
        for block in message["blocks"]:
            if block["type"] == "section" and "text" in block:
                assert len(block["text"]["text"]) <= MAX_SECTION_CHARS
        assert len(message["text"]) <= MAX_FALLBACK_CHARS
        assert message["blocks"][0]["text"]["text"].endswith("…")

    def test_custom_blocks_are_clamped_too(self):
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 4000}}] * 60
        clamped = clamp_blocks(blocks)
        assert len(clamped) == MAX_BLOCKS
        assert len(clamped[0]["text"]["text"]) == MAX_SECTION_CHARS

    @pytest.mark.parametrize(
        ("text", "limit", "expected"),
        [
            pytest.param("short", 10, "short", id="fits"),
            pytest.param("abcdefghij", 5, "abcd…", id="cut"),
            pytest.param("abc", 0, "", id="zero"),
        ],
    )
    def test_truncate(self, text, limit, expected):
        assert truncate(text, limit) == expected

    @pytest.mark.parametrize(
        ("seconds", "expected"),
        [(None, None), (-1, None), (4.24, "4.2s"), (83.4, "1m 23s"), (3723, "1h 2m 3s")],
    )
    def test_format_duration(self, seconds, expected):
        assert format_duration(seconds) == expected


class TestCustomTemplates:
    def test_custom_text_is_the_fallback_and_a_section(self):
        message = build_message(failure(), text="Sales load failed, on-call: @data-eng")
        assert message["text"] == "Sales load failed, on-call: @data-eng"
        assert message["blocks"][2]["text"]["text"] == "Sales load failed, on-call: @data-eng"

    def test_custom_blocks_replace_the_default_ones(self):
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "custom"}}]
        message = build_message(failure(), blocks=blocks)
        assert message["blocks"] == blocks
        assert message["text"] == fallback_text(failure())

    def test_blocks_from_a_json_string(self):
        rendered = json.dumps({"blocks": [{"type": "divider"}]})
        assert parse_blocks(rendered) == [{"type": "divider"}]

    @pytest.mark.parametrize(
        ("blocks", "error"),
        [
            pytest.param("[{", "blocks is not valid JSON", id="bad-json"),
            pytest.param('{"type": "divider"}', "must be a list of Block Kit blocks", id="not-a-list"),
            pytest.param([{"text": "no type"}], "must be a list of Block Kit blocks", id="no-type"),
        ],
    )
    def test_bad_blocks_say_why(self, blocks, error):
        with pytest.raises(ValueError, match=error):
            parse_blocks(blocks)


class TestWebhookUrl:
    @pytest.mark.parametrize(
        ("secret", "host", "expected"),
        [
            pytest.param(
                "https://hooks.slack.com/services/T1/B2/xyz",
                "ignored",
                "https://hooks.slack.com/services/T1/B2/xyz",
                id="full-url",
            ),
            pytest.param("T1/B2/xyz", None, "https://hooks.slack.com/services/T1/B2/xyz", id="token-default"),
            pytest.param("/T1/B2/xyz/", "", "https://hooks.slack.com/services/T1/B2/xyz", id="token-slashes"),
            pytest.param(
                "T1/B2/xyz", "http://127.0.0.1:9/services", "http://127.0.0.1:9/services/T1/B2/xyz", id="host"
            ),
            pytest.param(
                "T1/B2/xyz",
                "hooks.example.org",
                "https://hooks.example.org/services/T1/B2/xyz",
                id="bare-host",
            ),
        ],
    )
    def test_resolve(self, secret, host, expected):
        assert resolve_webhook_url(secret, host) == expected

    def test_errors_do_not_echo_the_secret(self):
        with pytest.raises(WebhookConfigError) as excinfo:
            resolve_webhook_url("T1/B2/sup3r-secret-part/x")
        assert "sup3r" not in str(excinfo.value)

    def test_redact_longest_first(self):
        url = "https://hooks.slack.com/services/T1/B2/xyz123456"
        assert redact(f"POST {url} failed", [url, "T1/B2/xyz123456"]) == "POST *** failed"


def test_message_module_does_not_import_airflow():
    code = (
        "import sys, airflow_sales_provider.notifications.slack_message as m; "
        "print(sorted(n for n in sys.modules if n == 'airflow' or n.startswith('airflow.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
