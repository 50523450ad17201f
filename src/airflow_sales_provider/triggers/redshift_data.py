"""Poll a Redshift Data API statement from the triggerer (aiobotocore: the event loop never blocks)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.compat import BaseTrigger, TriggerEvent, aws_async_conn

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

from airflow_sales_provider.load.redshift import (
    RUNNING_STATES,
    statement_event,
    statement_result_rows,
)

__all__ = ["RedshiftLoadTrigger", "statement_result_rows"]


class RedshiftLoadTrigger(BaseTrigger):
    """Wait for the load's Redshift Data API statement (one transaction) to finish.

    Yields ``{"status": "success", "statement_id", "result_rows"}`` when the statement finished, or
    ``{"status": "error", "statement_id", "state", "message"}`` when it failed, was aborted, or could not
    be described.

    :param statement_id: the Data API statement (a batch: the whole load in one transaction).
    :param aws_conn_id: the AWS connection used for the Data API.
    :param region_name: AWS region (``None``: the connection's).
    :param poll_interval: seconds between two ``DescribeStatement`` calls.
    :param cancel_on_kill: cancel the statement when the deferred task is killed (where Airflow calls
        ``BaseTrigger.on_kill``).
    """

    def __init__(
        self,
        statement_id: str,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        poll_interval: float = 10,
        cancel_on_kill: bool = True,
    ) -> None:
        super().__init__()
        self.statement_id = statement_id
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.poll_interval = poll_interval
        self.cancel_on_kill = cancel_on_kill

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "statement_id": self.statement_id,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "poll_interval": self.poll_interval,
                "cancel_on_kill": self.cancel_on_kill,
            },
        )

    def _hook(self) -> Any:
        from airflow_sales_provider.hooks.redshift_data import RedshiftDataLoadHook

        return RedshiftDataLoadHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name).data_hook

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            async with await aws_async_conn(self._hook()) as client:
                while True:
                    description = await client.describe_statement(Id=self.statement_id)
                    state = description["Status"]
                    if state not in RUNNING_STATES:
                        break
                    self.log.info("Redshift statement %s is %s", self.statement_id, state)
                    await asyncio.sleep(self.poll_interval)
        except Exception as exc:  # a vanished statement or lost credentials must end the wait, not hang it
            yield TriggerEvent(
                {
                    "status": "error",
                    "statement_id": self.statement_id,
                    "state": "UNKNOWN",
                    "message": f"could not describe Redshift statement {self.statement_id}: {exc}",
                }
            )
            return
        yield TriggerEvent(statement_event(self.statement_id, description))

    async def on_kill(self) -> None:
        """Cancel the statement when the user kills the deferred task (Airflow versions that call this)."""
        if not self.cancel_on_kill:
            return
        try:
            async with await aws_async_conn(self._hook()) as client:
                await client.cancel_statement(Id=self.statement_id)
            self.log.info("cancelled Redshift statement %s", self.statement_id)
        except Exception:
            self.log.exception("could not cancel Redshift statement %s", self.statement_id)
