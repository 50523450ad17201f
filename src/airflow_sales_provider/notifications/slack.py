"""Slack notifier for DAG and task callbacks: readable run summaries that never break the pipeline."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.checks.results import XCOM_KEY as DATA_QUALITY_XCOM_KEY
from airflow_sales_provider.compat import BaseNotifier, context_value
from airflow_sales_provider.hooks.slack_webhook import SalesSlackWebhookHook
from airflow_sales_provider.notifications.run_state import dag_run_url, run_task_instances, run_xcom_values
from airflow_sales_provider.notifications.slack_message import (
    RunSummary,
    TaskOutcome,
    build_message,
    parse_blocks,
    parse_data_quality,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_sales_provider.hooks.slack_webhook import DeliveryResult

SUMMARY_CONTEXT_KEY = "slack_summary"
FAILED_STATES = ("failed", "upstream_failed")


def _state(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _self_and_upstream(context: Any, task_id: str | None, dag: Any) -> list[str]:
    """Task ids whose data-quality results belong in a task's message: itself and its upstream tasks."""
    task = context_value(context, "task")
    try:
        upstream = sorted(task.get_flat_relative_ids(upstream=True))
    except Exception:  # no task object in this context: look everywhere
        return list(getattr(dag, "task_ids", None) or ([task_id] if task_id else []))
    return ([task_id] if task_id else []) + upstream


def is_dag_level(context: Any) -> bool:
    """DAG callbacks get a ``reason`` ("success", "task_failure", ...) on both Airflow lines; tasks do not."""
    return context_value(context, "reason") is not None


def collect_run_summary(
    context: Any,
    *,
    level: str,
    include_data_quality: bool = True,
    data_quality_key: str = DATA_QUALITY_XCOM_KEY,
    data_quality_task_ids: Sequence[str] | None = None,
    exclude_task_ids: Sequence[str] = (),
    status: str | None = None,
) -> RunSummary:
    """Read what a message needs from an Airflow context (task callback, DAG callback or a running task).

    :param level: ``"task"`` (the context's task instance), or ``"run"`` (the run: lists failed and
        retried tasks, and the data-quality results of all of them)
    :param exclude_task_ids: tasks the run listing leaves out (the notify task itself)
    :param status: overrides the status worked out from the context
    """
    dag = context_value(context, "dag")
    dag_run = context_value(context, "dag_run")
    ti = context_value(context, "ti") or context_value(context, "task_instance")
    dag_id = str(
        getattr(dag, "dag_id", None) or getattr(dag_run, "dag_id", None) or getattr(ti, "dag_id", "")
    )
    run_id: str | None = context_value(context, "run_id") or getattr(dag_run, "run_id", None)
    logical_date = _aware(context_value(context, "logical_date") or getattr(dag_run, "logical_date", None))
    now = datetime.now(timezone.utc)
    exception = context_value(context, "exception")
    reason = context_value(context, "reason")
    fields: dict[str, Any] = {}

    if level == "task":
        fields["task_id"] = getattr(ti, "task_id", None) or "?"
        fields["map_index"] = (
            getattr(ti, "map_index", -1) if isinstance(getattr(ti, "map_index", -1), int) else -1
        )
        fields["try_number"] = getattr(ti, "try_number", None)
        fields["max_tries"] = getattr(ti, "max_tries", None)
        task_status = _state(getattr(ti, "state", None))
        if task_status not in ("success", "failed", "up_for_retry", "skipped", "upstream_failed"):
            task_status = "failed" if exception else "success"
        fields["status"] = status or task_status
        duration = getattr(ti, "duration", None)
        start = _aware(getattr(ti, "start_date", None))
        if duration is None and start is not None:
            duration = ((_aware(getattr(ti, "end_date", None)) or now) - start).total_seconds()
        fields["duration"] = duration
        try:
            fields["url"] = getattr(ti, "log_url", None)
        except Exception:
            fields["url"] = None
        if not fields["url"] and run_id:
            fields["url"] = dag_run_url(dag_id, run_id)
        dq_task_ids = list(data_quality_task_ids) if data_quality_task_ids is not None else None
    else:
        outcomes = []
        if run_id:
            rows = run_task_instances(dag_id, run_id, logical_date)
            outcomes = [
                TaskOutcome(r["task_id"], r["state"], r["try_number"], r["map_index"])
                for r in sorted(rows, key=lambda r: (r["task_id"], r["map_index"]))
                if r["task_id"] not in exclude_task_ids
            ]
        failed = tuple(t for t in outcomes if t.state in FAILED_STATES)
        retried = tuple(
            t
            for t in outcomes
            if t.state not in FAILED_STATES and t.try_number is not None and t.try_number > 1
        )
        if status is None:
            if reason is not None:
                status = "success" if reason == "success" else "failed"
            else:
                status = "failed" if failed else "success"
        fields.update(status=status, failed_tasks=failed, retried_tasks=retried, reason=reason)
        fields["tries_unknown"] = any(t.try_number is None for t in outcomes)
        start = _aware(getattr(dag_run, "start_date", None))
        if start is not None:
            fields["duration"] = ((_aware(getattr(dag_run, "end_date", None)) or now) - start).total_seconds()
        fields["url"] = dag_run_url(dag_id, run_id) if run_id else None
        dq_task_ids = (
            list(data_quality_task_ids)
            if data_quality_task_ids is not None
            else [t.task_id for t in outcomes] or list(getattr(dag, "task_ids", []) or [])
        )

    if exception is not None and level == "task":
        fields["exception_type"] = type(exception).__name__
        fields["exception_message"] = str(exception)

    reports = []
    if include_data_quality and run_id:
        if dq_task_ids is None:  # task level: the task itself and the tasks upstream of it
            dq_task_ids = _self_and_upstream(context, fields.get("task_id"), dag)
        values = run_xcom_values(context, data_quality_key, [t for t in dq_task_ids if t])
        for task_id in sorted(values):
            report = parse_data_quality(task_id, values[task_id])
            if report is not None:
                reports.append(report)
    return RunSummary(
        dag_id=str(dag_id),
        run_id=run_id,
        logical_date=logical_date,
        data_quality=tuple(reports),
        **fields,
    )


class SlackNotifier(BaseNotifier):
    """Send a Block Kit run summary to a Slack incoming webhook from any DAG or task callback.

    Use one instance as ``on_failure_callback``, ``on_success_callback`` or ``on_retry_callback`` of a
    DAG (one message per run) or of tasks (one message per task event). The message shows status, DAG,
    run, logical date, task and try, duration, a link to the log / run, the exception of a failure, the
    failed and retried tasks of a run, and the failed / warned checks of data-quality results in XCom.

    Sending never fails the task or the callback chain: an undeliverable message (after bounded
    retries) or any error building it is logged as a warning, with the webhook secret removed.

    .. seealso:: ``docs/slack.md``

    :param slack_webhook_conn_id: connection of type ``sales_slack_webhook`` (templated)
    :param text: custom text, a Jinja template (templated). It is the plain-text fallback and a section
        under the header. ``slack_summary`` (:class:`RunSummary`) is in the template context.
    :param blocks: custom Block Kit blocks replacing the default ones: a list of dicts or a JSON string
        (templated)
    :param summary: one message per DAG run: task-level calls are skipped, the DAG-level call lists the
        failed and retried tasks; attach the same notifier to the DAG and in ``default_args``
    :param include_data_quality: list failed / warned checks found in XCom under ``data_quality_key``
    :param data_quality_key: XCom key of the data-quality operator's results
    :param data_quality_task_ids: tasks to look in (default: a task's message, the task and its
        upstream tasks; a run's message, every task of the run)
    :param timeout: seconds per HTTP attempt (default: connection extra ``timeout``, else 10)
    :param max_delivery_time: seconds for all attempts together (default: connection extra, else 60)
    """

    template_fields: Sequence[str] = ("slack_webhook_conn_id", "text", "blocks")
    # Set (on the rendering copy only) when the context's DAG cannot say how to render.
    render_template_as_native_obj: bool | None

    def __init__(
        self,
        *,
        slack_webhook_conn_id: str = SalesSlackWebhookHook.default_conn_name,
        text: str | None = None,
        blocks: list[dict[str, Any]] | str | None = None,
        summary: bool = False,
        include_data_quality: bool = True,
        data_quality_key: str = DATA_QUALITY_XCOM_KEY,
        data_quality_task_ids: Sequence[str] | None = None,
        timeout: float | None = None,
        max_delivery_time: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)  # Airflow 3 takes ``context=`` here for awaitable (triggerer) use
        self.slack_webhook_conn_id = slack_webhook_conn_id
        self.text = text
        self.blocks = blocks
        self.summary = summary
        self.include_data_quality = include_data_quality
        self.data_quality_key = data_quality_key
        self.data_quality_task_ids = data_quality_task_ids
        self.timeout = timeout
        self.max_delivery_time = max_delivery_time

    @cached_property
    def hook(self) -> SalesSlackWebhookHook:
        return SalesSlackWebhookHook(
            slack_webhook_conn_id=self.slack_webhook_conn_id,
            timeout=self.timeout,
            max_delivery_time=self.max_delivery_time,
        )

    def __call__(self, *args: Any) -> None:
        """Run as a callback. Works on a copy (rendering templates mutates), and never raises."""
        if len(args) != 1:
            self.log.info(
                "SlackNotifier handles on_*_callback calls only; ignored a %d-argument call", len(args)
            )
            return
        context = args[0]
        notifier = copy.copy(self)
        notifier.__dict__.pop("hook", None)
        try:
            if self.summary and not is_dag_level(context):
                self.log.info("SlackNotifier in summary mode: task-level call skipped (one message per run)")
                return
            context[SUMMARY_CONTEXT_KEY] = notifier.build_summary(context)
            notifier._update_context(context)
            jinja_env = None
            if not hasattr(context_value(context, "dag"), "get_template_env"):
                # Airflow 3's dag.test() hands DAG callbacks its scheduler DAG, which has no Jinja env.
                jinja_env = notifier.get_template_env()
                notifier.render_template_as_native_obj = False
            notifier.render_template_fields(context, jinja_env=jinja_env)
            notifier.notify(context)
        except Exception as err:
            self.log.warning(
                "Slack notification was not sent: %s", notifier._redact(f"{type(err).__name__}: {err}")
            )

    async def async_notify(self, context: Any) -> None:
        """Airflow 3's triggerer path (deadline alerts): the same bounded send, off the event loop."""
        import asyncio

        await asyncio.to_thread(self.notify, context)

    def build_summary(self, context: Any) -> RunSummary:
        """The :class:`RunSummary` for this callback's context."""
        return collect_run_summary(
            context,
            level="run" if is_dag_level(context) else "task",
            include_data_quality=self.include_data_quality,
            data_quality_key=self.data_quality_key,
            data_quality_task_ids=self.data_quality_task_ids,
        )

    def notify(self, context: Any) -> None:
        """Build the message and post it; failures are logged as warnings, never raised."""
        try:
            summary = context_value(context, SUMMARY_CONTEXT_KEY) or self.build_summary(context)
            result = send_summary(self, self.hook, summary, self.text, self.blocks)
        except Exception as err:
            self.log.warning(
                "Slack notification was not sent: %s", self._redact(f"{type(err).__name__}: {err}")
            )
            return
        if result is not None and not result.delivered:
            self.log.warning(
                "Slack notification not delivered after %d attempt(s) in %.1fs: %s",
                result.attempts,
                result.elapsed,
                result.error,
            )

    def _redact(self, text: str) -> str:
        hook = self.__dict__.get("hook")
        return hook.redact(text) if hook is not None else text


def send_summary(
    owner: Any, hook: SalesSlackWebhookHook, summary: RunSummary, text: Any, blocks: Any
) -> DeliveryResult:
    """Build the payload (custom text / blocks if given) and send it through ``hook``."""
    custom_blocks = None
    if blocks:
        try:
            custom_blocks = parse_blocks(blocks)
        except ValueError as err:
            owner.log.warning("Custom Slack blocks ignored, default blocks sent instead: %s", err)
    payload = build_message(summary, text=str(text) if text else None, blocks=custom_blocks)
    result = hook.send(payload)
    if result.delivered:
        owner.log.info(
            "Slack notification delivered (%s: %s) after %d attempt(s)",
            summary.status_word,
            summary.subject,
            result.attempts,
        )
    return result
