"""An explicit "notify" task: post the run's summary to Slack at the end of a pipeline."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.checks.results import XCOM_KEY
from airflow_sales_provider.compat import BaseOperator, context_value
from airflow_sales_provider.hooks.slack_webhook import SalesSlackWebhookHook

if TYPE_CHECKING:
    from collections.abc import Sequence


class SlackNotifyOperator(BaseOperator):
    """Post a Block Kit summary of the DAG run so far: status, failed and retried tasks, data quality.

    Meant as the last task of a pipeline; its default ``trigger_rule`` is ``all_done`` so it also reports
    runs whose upstream tasks failed. The status is "Failed" when any other task of the run failed (or
    is upstream-failed), otherwise "Succeeded". Delivery is bounded in time and never fails the task
    unless ``fail_on_error`` is set.

    .. seealso:: ``docs/slack.md``

    :param slack_webhook_conn_id: connection of type ``sales_slack_webhook`` (templated)
    :param text: custom text (templated): the plain-text fallback and a section under the header
    :param blocks: custom Block Kit blocks, a list of dicts or a JSON string (templated)
    :param include_data_quality: list failed / warned checks from ``data_quality`` XComs of the run
    :param data_quality_key: XCom key of the data-quality operator's results
    :param data_quality_task_ids: tasks to look in (default: every task of the run)
    :param timeout: seconds per HTTP attempt (default: connection extra ``timeout``, else 10)
    :param max_delivery_time: seconds for all attempts together (default: connection extra, else 60)
    :param fail_on_error: fail the task when the message cannot be delivered (default: log a warning)
    """

    template_fields: Sequence[str] = ("slack_webhook_conn_id", "text", "blocks")
    ui_color = "#4a154b"
    ui_fgcolor = "#ffffff"  # Airflow's default black text is unreadable on Slack aubergine

    def __init__(
        self,
        *,
        slack_webhook_conn_id: str = SalesSlackWebhookHook.default_conn_name,
        text: str | None = None,
        blocks: list[dict[str, Any]] | str | None = None,
        include_data_quality: bool = True,
        data_quality_key: str = XCOM_KEY,
        data_quality_task_ids: Sequence[str] | None = None,
        timeout: float | None = None,
        max_delivery_time: float | None = None,
        fail_on_error: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.slack_webhook_conn_id = slack_webhook_conn_id
        self.text = text
        self.blocks = blocks
        self.include_data_quality = include_data_quality
        self.data_quality_key = data_quality_key
        self.data_quality_task_ids = data_quality_task_ids
        self.timeout = timeout
        self.max_delivery_time = max_delivery_time
        self.fail_on_error = fail_on_error

    @cached_property
    def hook(self) -> SalesSlackWebhookHook:
        return SalesSlackWebhookHook(
            slack_webhook_conn_id=self.slack_webhook_conn_id,
            timeout=self.timeout,
            max_delivery_time=self.max_delivery_time,
        )

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_sales_provider.compat import AirflowException
        from airflow_sales_provider.notifications.slack import collect_run_summary, send_summary

        try:
            summary = collect_run_summary(
                context,
                level="run",
                include_data_quality=self.include_data_quality,
                data_quality_key=self.data_quality_key,
                data_quality_task_ids=self.data_quality_task_ids,
                exclude_task_ids=(self.task_id,),
            )
            result = send_summary(self, self.hook, summary, self.text, self.blocks)
        except Exception as err:
            message = self.hook.redact(f"{type(err).__name__}: {err}")
            if self.fail_on_error:
                raise AirflowException(f"Slack notification was not sent: {message}") from None
            self.log.warning("Slack notification was not sent: %s", message)
            return {"delivered": False, "attempts": 0, "run_id": context_value(context, "run_id")}
        if not result.delivered:
            if self.fail_on_error:
                raise AirflowException(
                    f"Slack notification not delivered after {result.attempts} attempt(s): {result.error}"
                )
            self.log.warning(
                "Slack notification not delivered after %d attempt(s) in %.1fs: %s",
                result.attempts,
                result.elapsed,
                result.error,
            )
        return {
            "delivered": result.delivered,
            "attempts": result.attempts,
            "status": summary.status,
            "run_id": context_value(context, "run_id"),
        }
