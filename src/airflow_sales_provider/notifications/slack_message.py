"""Pure Slack message building: a small run summary in, a Block Kit payload with a plain-text fallback out.

Nothing here imports Airflow or does I/O, so every rule (what is shown, how it is truncated to Slack's
limits, how data-quality results are read) is unit-tested without Airflow running. The Airflow side
(reading a callback context, XCom, task states) lives in :mod:`airflow_sales_provider.notifications.slack`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.checks.results import CheckResult

if TYPE_CHECKING:
    from datetime import datetime

# Slack's documented limits (https://api.slack.com/reference/block-kit/blocks). Longer values are
# rejected with ``invalid_blocks``, so everything is cut to size here instead.
MAX_BLOCKS = 50
MAX_HEADER_CHARS = 150
MAX_SECTION_CHARS = 3000
MAX_FIELD_CHARS = 2000
MAX_FIELDS = 10
MAX_CONTEXT_ELEMENTS = 10
MAX_BUTTON_TEXT_CHARS = 75
MAX_URL_CHARS = 3000
# The top-level ``text`` may be up to 40,000 characters, but Slack advises keeping it to 4,000 when blocks
# carry the content: it is the notification / accessibility fallback.
MAX_FALLBACK_CHARS = 4000
ELLIPSIS = "…"

# How many checks / tasks one section lists before "… and N more".
MAX_LISTED_ITEMS = 15


@dataclass(frozen=True)
class StatusStyle:
    emoji: str
    word: str


STATUS_STYLES: dict[str, StatusStyle] = {
    "success": StatusStyle(":white_check_mark:", "Succeeded"),
    "failed": StatusStyle(":x:", "Failed"),
    "up_for_retry": StatusStyle(":repeat:", "Up for retry"),
    "upstream_failed": StatusStyle(":no_entry:", "Upstream failed"),
    "skipped": StatusStyle(":fast_forward:", "Skipped"),
    "running": StatusStyle(":hourglass_flowing_sand:", "Running"),
}


def status_style(status: str) -> StatusStyle:
    """Emoji and word for a state; unknown states are shown as they are."""
    return STATUS_STYLES.get(status, StatusStyle(":grey_question:", status.replace("_", " ").capitalize()))


@dataclass(frozen=True)
class DataQualityReport:
    """The ``data_quality`` XCom of one task."""

    task_id: str
    table: str | None
    checks: tuple[CheckResult, ...]
    summary: Mapping[str, Any] = field(default_factory=dict)
    partition: tuple[str, Any] | None = None  # (column, value) the checks were restricted to

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.status == "failed")

    @property
    def warned(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.status == "warned")


@dataclass(frozen=True)
class TaskOutcome:
    """A task of the run as the summary lists it."""

    task_id: str
    state: str | None
    try_number: int | None = None
    map_index: int = -1

    @property
    def label(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"


TRIES_UNKNOWN = (
    "_Retried tasks not shown: Airflow did not report try numbers for this run"
    " (Airflow 3.0.x never does to code running inside a task)._"
)


@dataclass(frozen=True)
class RunSummary:
    """Everything a message shows. ``task_id`` is set for task-level messages, ``None`` for a run."""

    status: str
    dag_id: str
    run_id: str | None = None
    logical_date: datetime | None = None
    task_id: str | None = None
    map_index: int = -1
    try_number: int | None = None
    max_tries: int | None = None
    duration: float | None = None
    url: str | None = None
    exception_type: str | None = None
    exception_message: str | None = None
    reason: str | None = None
    failed_tasks: tuple[TaskOutcome, ...] = ()
    retried_tasks: tuple[TaskOutcome, ...] = ()
    #: Airflow did not report try numbers (Airflow 3.0.x inside a task): retries cannot be listed.
    tries_unknown: bool = False
    data_quality: tuple[DataQualityReport, ...] = ()

    @property
    def is_task_level(self) -> bool:
        return self.task_id is not None

    @property
    def status_emoji(self) -> str:
        return status_style(self.status).emoji

    @property
    def status_word(self) -> str:
        return status_style(self.status).word

    @property
    def subject(self) -> str:
        if self.task_id is None:
            return self.dag_id
        task = self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"
        return f"{self.dag_id} › {task}"

    @property
    def attempt(self) -> str | None:
        """``"try 1 of 3"`` (``max_tries`` counts retries, so attempts are ``max_tries + 1``)."""
        if self.try_number is None:
            return None
        if self.max_tries is None:
            return f"try {self.try_number}"
        return f"try {self.try_number} of {max(self.max_tries + 1, self.try_number)}"


# -- text helpers ---------------------------------------------------------------------------------------
def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, marking the cut with an ellipsis."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)] + ELLIPSIS


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def format_duration(seconds: float | None) -> str | None:
    if seconds is None or seconds < 0:
        return None
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s"


def format_value(value: Any, limit: int = 80) -> str:
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=str, sort_keys=True)
        except (TypeError, ValueError):
            text = str(value)
    return truncate(text, limit)


def _code(text: str) -> str:
    """Inline code; backticks inside would end it, so they become quotes."""
    return "`" + escape_mrkdwn(text.replace("`", "'")) + "`"


# -- data-quality XCom ----------------------------------------------------------------------------------
def parse_data_quality(task_id: str, value: Any) -> DataQualityReport | None:
    """Read a ``data_quality`` XCom value; anything not shaped like one gives ``None``.

    :param task_id: the task that pushed it
    :param value: ``{"checks": [{"name", "check", "column", "observed", "expected", "passed",
        "severity", "status"}, ...], "summary": {...}, "table": "schema.table"}``
    """
    if not isinstance(value, Mapping):
        return None
    raw_checks = value.get("checks")
    if not isinstance(raw_checks, Sequence) or isinstance(raw_checks, (str, bytes)):
        return None
    checks = [CheckResult.from_dict(raw, i) for i, raw in enumerate(raw_checks) if isinstance(raw, Mapping)]
    summary = value.get("summary")
    table = value.get("table")
    partition = value.get("partition")
    return DataQualityReport(
        task_id=task_id,
        table=None if table is None else str(table),
        checks=tuple(checks),
        summary=summary if isinstance(summary, Mapping) else {},
        partition=(
            (str(partition["column"]), partition.get("value"))
            if isinstance(partition, Mapping) and partition.get("column")
            else None
        ),
    )


# -- Block Kit ------------------------------------------------------------------------------------------
def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_CHARS)}}


def _facts(summary: RunSummary) -> list[tuple[str, str]]:
    facts = [("DAG", _code(summary.dag_id))]
    if summary.run_id:
        facts.append(("Run", _code(summary.run_id)))
    if summary.logical_date is not None:
        facts.append(("Logical date", escape_mrkdwn(summary.logical_date.isoformat())))
    if summary.task_id is not None:
        task = _code(summary.task_id if summary.map_index < 0 else f"{summary.task_id}[{summary.map_index}]")
        facts.append(("Task", task + (f" ({summary.attempt})" if summary.attempt else "")))
    duration = format_duration(summary.duration)
    if duration:
        facts.append(("Duration", duration))
    if summary.reason and summary.task_id is None:
        facts.append(("Reason", escape_mrkdwn(summary.reason.replace("_", " "))))
    return facts


def _listed(lines: list[str], total: int) -> str:
    shown = lines[:MAX_LISTED_ITEMS]
    if total > len(shown):
        shown.append(f"… and {total - len(shown)} more")
    return "\n".join(shown)


def _task_lines(tasks: Sequence[TaskOutcome], retried: bool) -> list[str]:
    lines = []
    for task in tasks:
        detail = []
        if task.state and (not retried or task.state != "success"):
            detail.append(escape_mrkdwn(task.state.replace("_", " ")))
        if task.try_number is not None and (retried or task.try_number > 1):
            detail.append(f"{task.try_number} tries" if task.try_number > 1 else "1 try")
        lines.append(f"• {_code(task.label)}" + (f" — {', '.join(detail)}" if detail else ""))
    return lines


def _check_line(check: CheckResult) -> str:
    emoji = ":x:" if check.status == "failed" else ":warning:"
    what = check.check + (f"({check.column})" if check.column else "") if check.check else check.column or ""
    line = f"{emoji} {_code(check.name)}"
    if what and what != check.name:
        line += f" {escape_mrkdwn(what)}"
    return line + (
        f": observed {_code(format_value(check.observed))}, expected {_code(format_value(check.expected))}"
    )


def _data_quality_text(report: DataQualityReport) -> str | None:
    failed, warned = report.failed, report.warned
    if not failed and not warned:
        return None
    where = f" on {_code(report.table)}" if report.table else ""
    if report.partition is not None:
        column, value = report.partition
        where += f" where {_code(column)} = {_code(format_value(value))}"
    head = (
        f"*Data quality*{where} (task {_code(report.task_id)}): "
        f"{len(failed)} failed, {len(warned)} warned of {len(report.checks)} checks"
    )
    problems = [*failed, *warned]
    return head + "\n" + _listed([_check_line(c) for c in problems], len(problems))


def _exception_text(summary: RunSummary) -> str | None:
    if not summary.exception_type:
        return None
    message = (summary.exception_message or "").strip()
    head = f"*{escape_mrkdwn(summary.exception_type)}*"
    if not message:
        return head
    # Leave room for the head and the code fence inside the section limit.
    body = truncate(message.replace("```", "'''"), MAX_SECTION_CHARS - len(head) - 10)
    return f"{head}\n```{escape_mrkdwn(body)}```"


def default_blocks(summary: RunSummary, text: str | None = None) -> list[dict[str, Any]]:
    """The standard message: header, facts, custom text, exception, task lists, data quality, link."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": truncate(
                    f"{summary.status_emoji} {summary.status_word}: {summary.subject}", MAX_HEADER_CHARS
                ),
                "emoji": True,
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": truncate(f"*{label}*\n{value}", MAX_FIELD_CHARS)}
                for label, value in _facts(summary)[:MAX_FIELDS]
            ],
        },
    ]
    if text:
        blocks.append(_section(text))
    exception = _exception_text(summary)
    if exception:
        blocks.append(_section(exception))
    if summary.failed_tasks:
        blocks.append(
            _section(
                f"*Failed tasks ({len(summary.failed_tasks)})*\n"
                + _listed(_task_lines(summary.failed_tasks, retried=False), len(summary.failed_tasks))
            )
        )
    if summary.retried_tasks:
        blocks.append(
            _section(
                f"*Retried tasks ({len(summary.retried_tasks)})*\n"
                + _listed(_task_lines(summary.retried_tasks, retried=True), len(summary.retried_tasks))
            )
        )
    if summary.tries_unknown and not summary.is_task_level:
        blocks.append(_section(TRIES_UNKNOWN))
    for report in summary.data_quality:
        dq_text = _data_quality_text(report)
        if dq_text:
            blocks.append(_section(dq_text))
    if summary.url and summary.url.startswith(("http://", "https://")) and len(summary.url) <= MAX_URL_CHARS:
        label = "View log" if summary.is_task_level else "View run"
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": label, "emoji": True},
                        "url": summary.url,
                    }
                ],
            }
        )
    return blocks


def fallback_text(summary: RunSummary) -> str:
    """Plain text for notifications and clients that do not render blocks."""
    head = f"{summary.status_emoji} {summary.status_word}: {summary.subject}"
    if summary.attempt:
        head += f" ({summary.attempt})"
    lines = [head]
    facts = []
    if summary.run_id:
        facts.append(f"run {summary.run_id}")
    if summary.logical_date is not None:
        facts.append(f"logical date {summary.logical_date.isoformat()}")
    duration = format_duration(summary.duration)
    if duration:
        facts.append(f"duration {duration}")
    if facts:
        lines.append(", ".join(facts))
    if summary.exception_type:
        message = (summary.exception_message or "").strip().splitlines()
        lines.append(summary.exception_type + (f": {truncate(message[0], 300)}" if message else ""))
    if summary.failed_tasks:
        lines.append("Failed tasks: " + ", ".join(t.label for t in summary.failed_tasks))
    if summary.retried_tasks:
        lines.append("Retried tasks: " + ", ".join(t.label for t in summary.retried_tasks))
    for report in summary.data_quality:
        if report.failed or report.warned:
            lines.append(
                f"Data quality ({report.table or report.task_id}): "
                f"{len(report.failed)} failed, {len(report.warned)} warned"
            )
    if summary.url:
        lines.append(summary.url)
    return truncate("\n".join(lines), MAX_FALLBACK_CHARS)


def _clamp_text_object(obj: Any, limit: int) -> Any:
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        return {**obj, "text": truncate(obj["text"], limit)}
    return obj


def clamp_blocks(blocks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Cut any blocks (also user-supplied ones) to Slack's limits instead of letting Slack reject them."""
    clamped: list[dict[str, Any]] = []
    for block in list(blocks)[:MAX_BLOCKS]:
        item = dict(block)
        kind = item.get("type")
        if kind == "header":
            item["text"] = _clamp_text_object(item.get("text"), MAX_HEADER_CHARS)
        elif kind == "section":
            if "text" in item:
                item["text"] = _clamp_text_object(item["text"], MAX_SECTION_CHARS)
            if isinstance(item.get("fields"), list):
                item["fields"] = [_clamp_text_object(f, MAX_FIELD_CHARS) for f in item["fields"][:MAX_FIELDS]]
        elif kind == "context" and isinstance(item.get("elements"), list):
            item["elements"] = [
                _clamp_text_object(e, MAX_FIELD_CHARS) for e in item["elements"][:MAX_CONTEXT_ELEMENTS]
            ]
        clamped.append(item)
    return clamped


def parse_blocks(blocks: Any) -> list[dict[str, Any]]:
    """Custom ``blocks``: a list of block dicts, or a JSON string of one (e.g. a rendered template).

    :raises ValueError: when it is neither; the message says what was found.
    """
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"blocks is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"
            ) from None
    if isinstance(blocks, Mapping) and isinstance(blocks.get("blocks"), list):
        blocks = blocks["blocks"]
    if not isinstance(blocks, list) or not all(isinstance(b, Mapping) and "type" in b for b in blocks):
        raise ValueError("blocks must be a list of Block Kit blocks, each a dict with a 'type'")
    return [dict(b) for b in blocks]


def build_message(
    summary: RunSummary, *, text: str | None = None, blocks: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The webhook payload: ``{"text": fallback, "blocks": [...]}``, within Slack's limits.

    :param summary: what happened
    :param text: custom text (a rendered template): the plain-text fallback, and a section under the
        header of the default blocks
    :param blocks: custom blocks replacing the default ones
    """
    custom_text = text.strip() if text and text.strip() else None
    chosen = list(blocks) if blocks else default_blocks(summary, custom_text)
    return {
        "text": truncate(custom_text, MAX_FALLBACK_CHARS) if custom_text else fallback_text(summary),
        "blocks": clamp_blocks(chosen),
    }
