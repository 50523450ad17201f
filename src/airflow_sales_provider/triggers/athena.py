"""The trigger behind ``AthenaReportOperator(deferrable=True)``: polls the query with aiobotocore."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.compat import BaseTrigger, TriggerEvent, aws_async_conn, current_task_state
from airflow_sales_provider.reports.athena import COST_EXCEEDED, KEEP_WAITING, QueryStatus, decide

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

#: The message Airflow 3.3+ cancels a trigger with when a user acted on the task; ``on_kill`` then runs.
_USER_ACTION = "__airflow_user_action__"


class AthenaReportTrigger(BaseTrigger):
    """Wait for an Athena query, stopping it when it scans more than ``max_bytes_scanned``.

    The Athena client is the amazon provider's ``AthenaHook`` aiobotocore client, from the same
    connection (and so the same ``endpoint_url``) the operator's hook uses, and every call is awaited:
    the triggerer's event loop is never blocked. The query is stopped when the task is killed while
    deferred (mark failed / mark success / clear), but not when the triggerer merely restarts.

    :param query_execution_id: The query to watch.
    :param aws_conn_id: The Airflow AWS connection.
    :param region_name: AWS region; defaults to the connection's.
    :param poll_interval: Seconds between two ``GetQueryExecution`` calls.
    :param max_bytes_scanned: Stop the query once it has scanned more than this many bytes.
    """

    def __init__(
        self,
        query_execution_id: str,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        poll_interval: float = 10.0,
        max_bytes_scanned: int | None = None,
    ) -> None:
        super().__init__()
        self.query_execution_id = query_execution_id
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.poll_interval = poll_interval
        self.max_bytes_scanned = max_bytes_scanned

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "query_execution_id": self.query_execution_id,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "poll_interval": self.poll_interval,
                "max_bytes_scanned": self.max_bytes_scanned,
            },
        )

    def _athena_hook(self) -> Any:
        from airflow.providers.amazon.aws.hooks.athena import AthenaHook

        return AthenaHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            async with await aws_async_conn(self._athena_hook()) as client:
                while True:
                    response = await client.get_query_execution(QueryExecutionId=self.query_execution_id)
                    status = QueryStatus.from_response(response)
                    decision = decide(status, self.max_bytes_scanned)
                    if decision == KEEP_WAITING:
                        self.log.info(
                            "Athena query %s is %s (%s bytes scanned so far)",
                            self.query_execution_id,
                            status.state,
                            status.data_scanned_bytes,
                        )
                        await asyncio.sleep(self.poll_interval)
                        continue
                    if decision == COST_EXCEEDED and status.state not in ("SUCCEEDED", "FAILED", "CANCELLED"):
                        self.log.warning(
                            "Stopping Athena query %s: %s bytes scanned, limit %s",
                            self.query_execution_id,
                            status.data_scanned_bytes,
                            self.max_bytes_scanned,
                        )
                        await client.stop_query_execution(QueryExecutionId=self.query_execution_id)
                    yield TriggerEvent(
                        {
                            "status": decision,
                            "query_execution_id": self.query_execution_id,
                            "query_status": status.to_dict(),
                        }
                    )
                    return
        except asyncio.CancelledError as exc:
            # Airflow 3.3+ names a user's action in the cancel message and then calls on_kill(); older
            # lines only cancel, so ask whether the task is still DEFERRED (a triggerer restart: leave
            # the query running for the next triggerer) or not (a user acted: stop it).
            if not (exc.args and exc.args[0] == _USER_ACTION) and await self._user_acted():
                await self._stop_query()
            raise
        except Exception as exc:
            yield TriggerEvent(
                {
                    "status": "error",
                    "query_execution_id": self.query_execution_id,
                    "message": f"{type(exc).__name__}: {exc}",
                }
            )

    async def on_kill(self) -> None:
        """Stop the query when a user kills the deferred task (called by Airflow 3.3+)."""
        await self._stop_query()

    async def _user_acted(self) -> bool:
        task_instance = getattr(self, "task_instance", None)
        if task_instance is None:
            return False
        from asgiref.sync import sync_to_async

        try:
            state = await sync_to_async(current_task_state)(task_instance)
        except Exception:
            self.log.warning("Cannot read the task state; leaving query %s running", self.query_execution_id)
            return False
        return state != "deferred"

    async def _stop_query(self) -> None:
        self.log.info("Stopping Athena query %s: the task was killed", self.query_execution_id)
        try:
            async with await aws_async_conn(self._athena_hook()) as client:
                await client.stop_query_execution(QueryExecutionId=self.query_execution_id)
        except Exception:
            self.log.exception("Could not stop Athena query %s; it may still run", self.query_execution_id)
