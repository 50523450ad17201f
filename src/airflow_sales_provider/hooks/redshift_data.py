"""The loader's Redshift Data API I/O, on the amazon provider's ``RedshiftDataHook``.

The whole load is one ``BatchExecuteStatement`` (one transaction). Its id is written to an S3 marker
so that a retry of the same task run re-attaches to a statement still running instead of loading twice.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from airflow_sales_provider.compat import BaseHook
from airflow_sales_provider.hooks.warehouse import S3SourceHook
from airflow_sales_provider.ledger import create_table_sql, loaded_objects_sql
from airflow_sales_provider.load.plan import LoadResult
from airflow_sales_provider.load.redshift import (
    RUNNING_STATES,
    data_api_target,
    ledger_records,
    mode_statement_index,
    redshift_statements,
    statement_event,
)
from airflow_sales_provider.sql.load import inline_params

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_sales_provider.load.plan import LoadJob, RunInfo
    from airflow_sales_provider.objects import S3Object


class Submission(NamedTuple):
    """A load submitted as one Data API batch: what it loads, and where its row count will be."""

    result: LoadResult
    statement_id: str
    statements: int
    mode_statement: int


class RedshiftDataLoadHook(BaseHook):
    """Submit, follow and cancel the loader's Data API batch; read the ledger through the Data API.

    :param aws_conn_id: the AWS connection (``aws_default``).
    :param region_name: the cluster's region (``None``: the connection's).
    :param data_api_kwargs: ``database`` and ``cluster_identifier`` or ``workgroup_name``, optional
        ``db_user`` and ``secret_arn``.
    """

    conn_name_attr = "aws_conn_id"
    default_conn_name = "aws_default"
    conn_type = "aws"
    hook_name = "Sales Redshift Data API load"

    def __init__(
        self,
        aws_conn_id: str | None = default_conn_name,
        region_name: str | None = None,
        data_api_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.data_api_kwargs = dict(data_api_kwargs or {})

    @cached_property
    def data_hook(self) -> Any:
        from airflow.providers.amazon.aws.hooks.redshift_data import RedshiftDataHook

        return RedshiftDataHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    @property
    def conn(self) -> Any:
        """The boto3 ``redshift-data`` client of the amazon provider's hook."""
        return self.data_hook.conn

    def get_conn(self) -> Any:
        return self.conn

    @cached_property
    def source(self) -> S3SourceHook:
        return S3SourceHook(aws_conn_id=self.aws_conn_id)

    def earlier_statement(self, marker_uri: str) -> tuple[str, str, dict[str, Any]] | None:
        """``(statement id, state, metadata)`` of the load an earlier try recorded at ``marker_uri``."""
        marker = self.source.read_json_if_exists(marker_uri)
        if not marker:
            return None
        return marker["statement_id"], self.state(marker["statement_id"]), marker["meta"]

    def state(self, statement_id: str) -> str:
        return str(self.conn.describe_statement(Id=statement_id)["Status"])

    def submit(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> str:
        """Run ``statements`` as one batch (one transaction); the statement id."""
        sqls = [inline_params(sql, params) for sql, params in statements]
        response = self.conn.batch_execute_statement(Sqls=sqls, **data_api_target(self.data_api_kwargs))
        return str(response["Id"])

    def submit_load(
        self, job: LoadJob, bucket: str, to_load: list[S3Object], run: RunInfo, manifest_uri: str
    ) -> Submission:
        """Probe, plan and write the manifest, then submit the whole load as one batch (one transaction)."""
        from airflow_sales_provider.hooks.redshift_load import LoadError
        from airflow_sales_provider.sql.dialects import RedshiftDialect

        dialect = RedshiftDialect()
        probes = self.source.probe_load(job, bucket, to_load)
        plan = job.plan(bucket, probes, None, ordered_header=True)
        empty = [k for k, p in probes.items() if p.empty]
        data = [o for o in to_load if o.key not in empty]
        manifest = self.source.write_manifest(manifest_uri, bucket, data) if data else None
        gzip = job.uniform_gzip(probes, to_load)
        statements = redshift_statements(job, dialect, plan, bucket, to_load, empty, manifest, run, gzip=gzip)
        try:
            statement_id = self.submit(statements)
        except Exception as exc:
            raise LoadError(
                f"the Redshift Data API did not accept the load into {plan.target_name} ({len(statements)} "
                f"statements in one batch): {exc}. Nothing was loaded."
            ) from exc
        return Submission(
            LoadResult(to_load, [], None, empty, manifest, columns=plan.columns),
            statement_id,
            len(statements),
            mode_statement_index(statements, dialect, plan, job.partition_value),
        )

    def wait(self, statement_id: str, poll_interval: float) -> dict[str, Any]:
        """Poll until the statement ends; the same event :class:`RedshiftLoadTrigger` would send."""
        while True:
            description = self.conn.describe_statement(Id=statement_id)
            if description["Status"] not in RUNNING_STATES:
                return statement_event(statement_id, description)
            time.sleep(poll_interval)

    def cancel(self, statement_id: str) -> None:
        self.conn.cancel_statement(Id=statement_id)

    def loaded_objects(self, job: LoadJob, bucket: str, poll_interval: float) -> set[tuple[str, str]]:
        """``(key, etag)`` of the objects the ledger holds for the target (creating the ledger if new)."""
        if not job.ledger:
            return set()
        statement_id = self.submit(
            [(create_table_sql(job.ledger), ()), loaded_objects_sql(job.ledger, job.target_name, bucket)]
        )
        self.data_hook.wait_for_results(statement_id, poll_interval=poll_interval)
        loaded: set[tuple[str, str]] = set()
        token = None
        while True:
            kwargs = {"Id": f"{statement_id}:2", **({"NextToken": token} if token else {})}
            page = self.conn.get_statement_result(**kwargs)
            loaded |= ledger_records(page.get("Records", []))
            token = page.get("NextToken")
            if not token:
                return loaded
