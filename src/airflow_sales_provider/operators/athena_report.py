"""Run an Athena query and publish its result as a report object in S3: durable, cost-guarded, streamed."""

from __future__ import annotations

import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.compat import (
    AirflowException,
    AirflowFailException,
    BaseOperator,
    conf,
    context_value,
)
from airflow_sales_provider.errors import fail_at_once
from airflow_sales_provider.objects import parse_s3_uri
from airflow_sales_provider.reports.athena import (
    COST_EXCEEDED,
    DONE,
    FAILED_STATES,
    KEEP_WAITING,
    MAX_TOKEN_HOPS,
    QUERY_FAILED,
    REPORT_FORMATS,
    QueryStatus,
    client_request_token,
    cost_message,
    decide,
    failure_message,
    next_client_request_token,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_sales_provider.compat import Context
    from airflow_sales_provider.hooks.athena import AthenaReportHook


class AthenaReportOperator(BaseOperator):
    """Run an Athena query and publish its result as one report object in S3.

    Unlike the amazon provider's ``AthenaOperator`` (which returns only the query id), this operator:

    - starts the query with a client request token derived from (dag_id, task_id, run_id, map_index,
      rendered SQL), so a retry within Athena's idempotency window re-attaches to the execution already
      running or finished instead of paying for the query twice. A retry that finds the earlier
      execution FAILED or CANCELLED starts a fresh one (with a token derived from the failed one);
    - stops the query and fails when it scans more than ``max_bytes_scanned`` bytes, in the worker and
      in the trigger alike;
    - stops the query when the task is killed, also while deferred;
    - publishes without holding the result in memory: CSV is a server-side copy of Athena's result
      object, JSON Lines is streamed from it part by part with a multipart upload.

    .. seealso::
        The how-to: ``docs/athena-report.md``.

    :param sql: The query (templated). A path ending in ``.sql`` is read and rendered as a template.
    :param report_s3_uri: Where the report goes, a full object URI such as
        ``s3://reports/daily_sales/{{ ds }}.csv`` (templated). Overwritten on every successful run.
    :param database: Default database of the query (templated).
    :param catalog: Data catalog (templated).
    :param workgroup: Athena workgroup (templated).
    :param output_location: Athena's own result location, an ``s3://`` prefix (templated). Leave it
        ``None`` when the workgroup defines one.
    :param report_format: ``"csv"`` (Athena's CSV, header included, copied as is) or ``"jsonl"`` (one
        JSON object per row keyed by column name; values are Athena's text, NULL is ``null``).
    :param max_bytes_scanned: Cost guard: stop the query and fail the task once it has scanned more
        than this many bytes. ``None`` (default) disables the guard.
    :param poll_interval: Seconds between two status checks, in the worker and in the trigger.
    :param deferrable: Wait in the triggerer instead of the worker.
    :param aws_conn_id: The Airflow AWS connection used for Athena and S3 (templated).
    :param region_name: AWS region; defaults to the connection's.
    :param emit_asset: declare the report object as an outlet: each successful run emits an asset
        (dataset) event for ``s3://bucket/key`` of the rendered ``report_s3_uri`` (``docs/lineage.md``).
    """

    template_fields: Sequence[str] = (
        "sql",
        "database",
        "catalog",
        "workgroup",
        "output_location",
        "report_s3_uri",
        "aws_conn_id",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {"sql": "sql"}
    ui_color = "#44b5e2"

    def __init__(
        self,
        *,
        sql: str,
        report_s3_uri: str,
        database: str | None = None,
        catalog: str = "AwsDataCatalog",
        workgroup: str = "primary",
        output_location: str | None = None,
        report_format: str = "csv",
        max_bytes_scanned: int | None = None,
        poll_interval: float = 10.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        emit_asset: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sql = sql
        self.report_s3_uri = report_s3_uri
        self.database = database
        self.catalog = catalog
        self.workgroup = workgroup
        self.output_location = output_location
        self.report_format = report_format
        self.max_bytes_scanned = max_bytes_scanned
        self.poll_interval = poll_interval
        self.deferrable = deferrable
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.emit_asset = emit_asset
        if emit_asset:
            from airflow_sales_provider.lineage.assets import declare_outlet

            declare_outlet(self)
        self.query_execution_id: str | None = None

    @cached_property
    def hook(self) -> AthenaReportHook:
        from airflow_sales_provider.hooks.athena import AthenaReportHook

        return AthenaReportHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    # --- execution -----------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            self._validate()
        except ValueError as exc:  # a configuration mistake: retrying cannot help
            raise fail_at_once(exc) from exc
        ti = context_value(context, "ti")
        token = client_request_token(
            self.dag_id,
            self.task_id,
            str(context_value(context, "run_id", "")),
            self.sql,
            map_index=-1 if getattr(ti, "map_index", None) is None else int(ti.map_index),
        )
        status = self._start(token)
        if self.deferrable and decide(status, self.max_bytes_scanned) == KEEP_WAITING:
            from airflow_sales_provider.triggers.athena import AthenaReportTrigger

            self.log.info("Deferring until Athena query %s finishes", status.query_execution_id)
            self.defer(
                trigger=AthenaReportTrigger(
                    query_execution_id=status.query_execution_id,
                    aws_conn_id=self.aws_conn_id,
                    region_name=self.region_name,
                    poll_interval=self.poll_interval,
                    max_bytes_scanned=self.max_bytes_scanned,
                ),
                method_name="execute_complete",
                timeout=self.execution_timeout,
            )
        decision, status = self._wait(status)
        return self._finish(decision, status)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: end in the same states as the synchronous path."""
        if not isinstance(event, dict) or "status" not in event or "query_execution_id" not in event:
            raise AirflowException(
                f"AthenaReportOperator resumed with an unexpected trigger event: {event!r}"
            )
        self.query_execution_id = str(event["query_execution_id"])
        if event["status"] == "error":
            raise AirflowException(
                f"Waiting for Athena query {self.query_execution_id} failed: {event.get('message')}"
            )
        if event["status"] not in (DONE, QUERY_FAILED, COST_EXCEEDED):
            raise AirflowException(f"AthenaReportOperator got an unknown trigger status: {event!r}")
        return self._finish(event["status"], QueryStatus.from_dict(event["query_status"]))

    def on_kill(self) -> None:
        """Stop the running query (the trigger does the same while the task is deferred)."""
        if self.query_execution_id:
            self.log.info("Task killed: stopping Athena query %s", self.query_execution_id)
            self.hook.stop_query(self.query_execution_id)

    # --- lineage (docs/lineage.md) ---------------------------------------------------------------------

    def post_execute(self, context: Any, result: Any = None) -> None:
        super().post_execute(context, result)
        if self.emit_asset:
            from airflow_sales_provider.lineage import split_s3
            from airflow_sales_provider.lineage.assets import emit

            emit(self, context, split_s3(self.report_s3_uri), {"query_execution_id": self.query_execution_id})

    def get_openlineage_facets_on_start(self) -> Any:
        """The tables the query reads, the report object and the SQL (the query id is not known yet)."""
        return self.get_openlineage_facets_on_complete(None)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The tables the query reads, the report object, the query id (``externalQuery``) and the SQL."""
        from airflow_sales_provider.lineage import athena_table, split_s3
        from airflow_sales_provider.lineage.facets import athena_lineage, openlineage_installed, read_tables

        if not openlineage_installed():
            return None
        region = self.region_name or self.hook.athena.region_name  # the connection's region
        inputs = [
            athena_table(region, catalog or self.catalog, database or self.database, table)
            for catalog, database, table in read_tables(self.sql)
        ]
        return athena_lineage(
            inputs, split_s3(self.report_s3_uri), query_execution_id=self.query_execution_id, sql=self.sql
        )

    # --- steps ---------------------------------------------------------------------------------------

    def _validate(self) -> None:
        if not isinstance(self.sql, str) or not self.sql.strip():
            raise ValueError(f"{self.task_id}: sql rendered to an empty query")
        if self.report_format not in REPORT_FORMATS:
            raise ValueError(
                f"{self.task_id}: report_format must be one of {', '.join(REPORT_FORMATS)}; "
                f"got {self.report_format!r}"
            )
        parse_s3_uri(self.report_s3_uri, f"{self.task_id}: report_s3_uri")
        if self.output_location is not None and not str(self.output_location).startswith("s3://"):
            raise ValueError(
                f"{self.task_id}: output_location must be an s3:// prefix; got {self.output_location!r}"
            )
        if self.max_bytes_scanned is not None and (
            isinstance(self.max_bytes_scanned, bool)
            or not isinstance(self.max_bytes_scanned, int)
            or self.max_bytes_scanned <= 0
        ):
            raise ValueError(
                f"{self.task_id}: max_bytes_scanned must be a positive number of bytes or None; "
                f"got {self.max_bytes_scanned!r}"
            )
        if not self.poll_interval or self.poll_interval <= 0:
            raise ValueError(f"{self.task_id}: poll_interval must be > 0; got {self.poll_interval!r}")

    def _start(self, token: str) -> QueryStatus:
        """Start the query, or re-attach to the execution Athena already has for this token.

        An execution that had already ended FAILED/CANCELLED before this try began belongs to an earlier
        try; re-attaching to it would fail every retry at once, so the next token in the chain is used.
        """
        this_try_began = time.time()
        for _ in range(MAX_TOKEN_HOPS + 1):
            query_execution_id = self.hook.start_query(
                self.sql,
                client_request_token=token,
                database=self.database,
                catalog=self.catalog,
                workgroup=self.workgroup,
                output_location=self.output_location,
            )
            self.query_execution_id = query_execution_id
            status = self.hook.get_status(query_execution_id)
            stale = (
                status.state in FAILED_STATES
                and status.submitted_at is not None
                and status.submitted_at < this_try_began
            )
            if not stale:
                return status
            self.log.info(
                "Athena query %s (token %s) ended %s in an earlier try; starting a new execution",
                query_execution_id,
                token,
                status.state,
            )
            token = next_client_request_token(token, query_execution_id)
        raise AirflowException(
            f"{self.task_id}: {MAX_TOKEN_HOPS + 1} earlier executions of this query ended FAILED or "
            f"CANCELLED (last: {self.query_execution_id}); not starting another one"
        )

    def _wait(self, status: QueryStatus) -> tuple[str, QueryStatus]:
        while True:
            decision = decide(status, self.max_bytes_scanned)
            if decision != KEEP_WAITING:
                if decision == COST_EXCEEDED and status.state not in ("SUCCEEDED", *FAILED_STATES):
                    self.log.warning(
                        "Stopping Athena query %s: %s bytes scanned, limit %s",
                        status.query_execution_id,
                        status.data_scanned_bytes,
                        self.max_bytes_scanned,
                    )
                    self.hook.stop_query(status.query_execution_id)
                return decision, status
            self.log.info(
                "Athena query %s is %s (%s bytes scanned so far)",
                status.query_execution_id,
                status.state,
                status.data_scanned_bytes,
            )
            time.sleep(self.poll_interval)
            status = self.hook.get_status(status.query_execution_id)

    def _finish(self, decision: str, status: QueryStatus) -> dict[str, Any]:
        if decision == COST_EXCEEDED:
            # Retrying cannot help: the same query scans the same bytes again.
            raise AirflowFailException(cost_message(status, int(self.max_bytes_scanned or 0)))
        if decision == QUERY_FAILED:
            raise AirflowException(failure_message(status))
        if not status.output_location:
            raise AirflowException(
                f"Athena query {status.query_execution_id} succeeded but reported no result location; "
                "set output_location or a result location on the workgroup"
            )
        if self.report_format == "csv":
            self.hook.copy_report(status.output_location, self.report_s3_uri)
            row_count = self.hook.count_csv_rows(self.report_s3_uri)
        else:
            row_count = self.hook.write_jsonl_report(status.output_location, self.report_s3_uri)
        self.log.info(
            "Published %s rows of Athena query %s to %s (%s bytes scanned, %s ms engine time)",
            row_count,
            status.query_execution_id,
            self.report_s3_uri,
            status.data_scanned_bytes,
            status.engine_execution_time_ms,
        )
        return {
            "query_execution_id": status.query_execution_id,
            "report_s3_uri": self.report_s3_uri,
            "row_count": row_count,
            "bytes_scanned": status.data_scanned_bytes,
            "engine_execution_time_ms": status.engine_execution_time_ms,
        }
