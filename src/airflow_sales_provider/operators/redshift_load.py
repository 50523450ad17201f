"""Exactly-once loads of S3 files into Redshift or PostgreSQL: :class:`RedshiftLoadOperator`.

The operator validates its options and dispatches; :mod:`airflow_sales_provider.load.plan` decides,
:class:`~airflow_sales_provider.hooks.redshift_load.WarehouseLoadHook` (SQL connections) and
:class:`~airflow_sales_provider.hooks.redshift_data.RedshiftDataLoadHook` (Data API) do the I/O.

.. seealso:: ``docs/redshift-load.md`` (modes, the ledger, when to use which).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.arrival.xcom import S3KeySelection, parse_s3_keys
from airflow_sales_provider.compat import AirflowNotFoundException, BaseOperator, conf, context_value
from airflow_sales_provider.errors import fail_at_once
from airflow_sales_provider.hooks.redshift_load import LoadError, WarehouseLoadHook
from airflow_sales_provider.ledger import DEFAULT_LEDGER_TABLE
from airflow_sales_provider.load.options import METHODS, job_from_options
from airflow_sales_provider.load.plan import LoadDataError, LoadJob, LoadResult, RunInfo, load_metadata
from airflow_sales_provider.load.redshift import (
    RUNNING_STATES,
    ledger_records,
    manifest_base,
    redshift_statements,
    translate_load_errors,
)
from airflow_sales_provider.operators.redshift_data import RedshiftDataLoadMixin
from airflow_sales_provider.operators.redshift_load_lineage import LoadLineageMixin
from airflow_sales_provider.sql.identifiers import InvalidIdentifierError
from airflow_sales_provider.sql.load import LoadConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_sales_provider.compat import Context
    from airflow_sales_provider.hooks.redshift_data import RedshiftDataLoadHook
    from airflow_sales_provider.hooks.warehouse import S3SourceHook
    from airflow_sales_provider.objects import S3Object
    from airflow_sales_provider.sql.dialects import Dialect
    from airflow_sales_provider.sql.load import LoadPlan, Statement

__all__ = [
    "METHODS",
    "RUNNING_STATES",
    "LoadError",
    "RedshiftLoadOperator",
    "S3KeySelection",
    "ledger_records",
    "parse_s3_keys",
    "translate_load_errors",
]


class RedshiftLoadOperator(LoadLineageMixin, RedshiftDataLoadMixin, BaseOperator):
    """Load S3 files into a Redshift or PostgreSQL table so that retries and reruns never duplicate rows.

    One transaction per load holds the target's lock, the rows and the ledger rows that record which
    objects (key + ETag) were loaded. On PostgreSQL, ``append``, ``truncate_insert`` and
    ``replace_partition`` stream each object with ``COPY`` straight into the target; ``upsert`` (and a
    partition column the files lack) goes through a session-temporary staging table, as Redshift does.

    .. seealso:: ``docs/redshift-load.md``

    :param table: target table (templated).
    :param s3_bucket: source bucket (templated); may come from an ``s3_keys`` dict instead.
    :param s3_keys: keys to load (templated): a list of keys, a list of ``{"key","size","etag"}``, or the
        S3 arrival sensor's XCom (also when rendered as a string).
    :param s3_prefix: load every object under this prefix instead (templated).
    :param pattern: glob on the full key for ``s3_prefix`` listings, e.g. ``"*.csv.gz"`` (templated).
    :param schema: target schema (templated).
    :param columns: the columns the files provide (templated); default: from the CSV header, or all the
        table's columns. A single name is a one-element list.
    :param redshift_conn_id: a ``redshift`` or ``postgres`` connection (templated).
    :param aws_conn_id: AWS connection for S3 and the Data API (templated).
    :param format: ``csv``, ``json`` or ``parquet`` (Redshift only).
    :param delimiter: CSV delimiter.
    :param header: CSV files have a header row (mapped by name and checked for drift).
    :param quote: CSV quote character.
    :param null_string: CSV text meaning NULL.
    :param date_format: Redshift ``DATEFORMAT``; on PostgreSQL ``MM/DD/YYYY`` or ``DD/MM/YYYY`` set DateStyle.
    :param time_format: Redshift ``TIMEFORMAT`` (not supported on PostgreSQL, which reads ISO timestamps).
    :param compression: ``auto`` (detect gzip), ``gzip`` or ``none``.
    :param json_paths: ``auto`` or the ``s3://`` URI of a jsonpaths file (templated).
    :param mode: ``append``, ``replace_partition``, ``upsert`` or ``truncate_insert`` (templated).
    :param partition_column: column of the partition to replace (templated).
    :param partition_value: value of that partition, bound as a parameter (templated), e.g. ``"{{ ds }}"``.
    :param upsert_keys: key columns for ``upsert`` (templated); a single name is a one-element list.
    :param order_by: which duplicate of a key is the latest (``"col"``, ``"col DESC"``); bare columns sort
        descending; default on PostgreSQL: the last row loaded (templated); one item is a one-element list.
    :param ledger: record loaded objects and skip those already loaded (default ``True``).
    :param ledger_table: ledger table, ``table`` or ``schema.table`` (templated).
    :param force_reload: load objects even if the ledger has them.
    :param allow_empty: skip empty files (and an empty selection) with a warning; ``False``: fail.
    :param allow_missing_columns: without ``columns``, a table column (without a default) that a CSV
        file's header lacks is schema drift and fails the load before any data moves; ``True`` loads
        such nullable columns as NULL (NOT NULL columns without a default must always be there).
    :param method: Redshift only: ``sql`` (a SQL connection) or ``data_api`` (Redshift Data API).
    :param iam_role_arn: Redshift only: role COPY reads S3 with (templated); default: the AWS connection's
        ``role_arn`` extra. Access keys are never written into SQL.
    :param region: Redshift only: region of the bucket, if it differs from the cluster's.
    :param manifest_prefix: ``s3://bucket/prefix/`` for COPY manifests and Data API statement markers
        (templated); default ``s3://<s3_bucket>/_sales_load/``.
    :param data_api_kwargs: Data API target: ``database`` and ``cluster_identifier`` or
        ``workgroup_name``, optional ``db_user``, ``secret_arn`` (templated).
    :param deferrable: wait for a Data API statement in the triggerer.
    :param poll_interval: seconds between Data API status checks.
    :param max_files_in_xcom: at most this many keys are listed in the returned metadata.
    :param emit_asset: declare the target table as an outlet: each successful run emits an asset
        (dataset) event for ``postgres://host:port/database/schema/table`` (Redshift:
        ``redshift://cluster.region:5439/...``), so DAGs can be scheduled on it (``docs/lineage.md``).
    """

    template_fields: Sequence[str] = (
        "s3_bucket",
        "s3_keys",
        "s3_prefix",
        "pattern",
        "table",
        "schema",
        "columns",
        "redshift_conn_id",
        "aws_conn_id",
        "mode",
        "partition_column",
        "partition_value",
        "upsert_keys",
        "order_by",
        "ledger_table",
        "json_paths",
        "iam_role_arn",
        "manifest_prefix",
        "data_api_kwargs",
    )
    template_fields_renderers = {"data_api_kwargs": "json"}
    ui_color = "#c7e9f1"

    def __init__(
        self,
        *,
        table: str,
        s3_bucket: str | None = None,
        s3_keys: Any = None,
        s3_prefix: str | None = None,
        pattern: str | None = None,
        schema: str | None = None,
        columns: Sequence[str] | None = None,
        redshift_conn_id: str = "redshift_default",
        aws_conn_id: str | None = "aws_default",
        format: str = "csv",
        delimiter: str = ",",
        header: bool = True,
        quote: str = '"',
        null_string: str = "",
        date_format: str | None = None,
        time_format: str | None = None,
        compression: str = "auto",
        json_paths: str = "auto",
        mode: str = "append",
        partition_column: str | None = None,
        partition_value: Any = None,
        upsert_keys: Sequence[str] | None = None,
        order_by: Sequence[str] | None = None,
        ledger: bool = True,
        ledger_table: str = DEFAULT_LEDGER_TABLE,
        force_reload: bool = False,
        allow_empty: bool = True,
        allow_missing_columns: bool = False,
        method: str = "sql",
        iam_role_arn: str | None = None,
        region: str | None = None,
        manifest_prefix: str | None = None,
        data_api_kwargs: dict[str, Any] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 10,
        max_files_in_xcom: int = 100,
        emit_asset: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.table = table
        self.s3_bucket = s3_bucket
        self.s3_keys = s3_keys
        self.s3_prefix = s3_prefix
        self.pattern = pattern
        self.schema = schema
        self.columns = columns
        self.redshift_conn_id = redshift_conn_id
        self.aws_conn_id = aws_conn_id
        self.format = format
        self.delimiter = delimiter
        self.header = header
        self.quote = quote
        self.null_string = null_string
        self.date_format = date_format
        self.time_format = time_format
        self.compression = compression
        self.json_paths = json_paths
        self.mode = mode
        self.partition_column = partition_column
        self.partition_value = partition_value
        self.upsert_keys = upsert_keys
        self.order_by = order_by
        self.ledger = ledger
        self.ledger_table = ledger_table
        self.force_reload = force_reload
        self.allow_empty = allow_empty
        self.allow_missing_columns = allow_missing_columns
        self.method = method
        self.iam_role_arn = iam_role_arn
        self.region = region
        self.manifest_prefix = manifest_prefix
        self.data_api_kwargs = data_api_kwargs
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.max_files_in_xcom = max_files_in_xcom
        self.emit_asset = emit_asset
        if emit_asset:
            from airflow_sales_provider.lineage.assets import declare_outlet

            declare_outlet(self)
        self._loaded: tuple[str, list[S3Object], int | None] | None = None
        self._loaded_columns: list[str] = []
        self._statement_id: str | None = None

    # -- hooks -------------------------------------------------------------------------------------------
    @cached_property
    def hook(self) -> WarehouseLoadHook:
        """Loads over the ``redshift_conn_id`` SQL connection (PostgreSQL streaming, Redshift COPY)."""
        return WarehouseLoadHook(redshift_conn_id=self.redshift_conn_id, aws_conn_id=self.aws_conn_id)

    @cached_property
    def data_api(self) -> RedshiftDataLoadHook:
        """Loads through the Redshift Data API (``method="data_api"``)."""
        from airflow_sales_provider.hooks.redshift_data import RedshiftDataLoadHook

        return RedshiftDataLoadHook(
            aws_conn_id=self.aws_conn_id, region_name=self.region, data_api_kwargs=self.data_api_kwargs
        )

    @property
    def source(self) -> S3SourceHook:
        """S3 I/O: the Data API hook's or the SQL load hook's (one S3 client per task)."""
        return self.data_api.source if self.method == "data_api" else self.hook.source

    # -- entry points ------------------------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        """Validate, select the objects and load them (or re-attach to an earlier try's Data API load)."""
        try:
            job = self._validate()
            if self.method == "data_api":
                attached = self._reattach(context)
                if attached is not None:
                    return attached
            dialect = self._dialect()
            if self.format == "parquet" and not dialect.supports_parquet:
                raise LoadConfigError(
                    f"format='parquet' is only supported on Redshift; connection {self.redshift_conn_id!r} "
                    f"is {dialect.name}: convert the files to CSV or JSON"
                )
            bucket, objects = self._resolve_objects()
            if not objects:
                return self._nothing_to_load(job, bucket, reason="no S3 objects matched")
            return self._load(context, job, dialect, bucket, objects)
        except (LoadConfigError, InvalidIdentifierError) as exc:
            raise fail_at_once(exc) from exc
        except LoadDataError as exc:
            raise LoadError(str(exc)) from exc

    def _load(
        self, context: Context, job: LoadJob, dialect: Dialect, bucket: str, objects: list[S3Object]
    ) -> dict[str, Any]:
        run = self._run_info(context)
        if self.method == "data_api":
            return self._load_data_api(context, job.with_role(self._iam_role()), bucket, objects)
        if dialect.copy_from_s3:
            manifest_uri = f"{manifest_base(self.manifest_prefix, bucket)}manifests/{run.path()}.manifest"
            result = self.hook.load_redshift(
                job.with_role(self._iam_role()), bucket, objects, run, manifest_uri
            )
        else:
            result = self.hook.load_postgres(job, bucket, objects, run)
        extra = {"manifest_uri": result.manifest_uri} if dialect.copy_from_s3 and result.loaded else {}
        return self._metadata(job, bucket, result, **extra)

    def on_kill(self) -> None:
        """Cancel what runs: the Data API statement, or the SQL connection's current statement.

        A cancelled COPY aborts the load's transaction, which then rolls back: nothing is half-loaded.
        """
        if "hook" in self.__dict__:
            try:
                if self.hook.cancel():
                    self.log.info("cancelled the running load statement on %s", self.redshift_conn_id)
            except Exception:
                self.log.exception("could not cancel the load statement")
        if self._statement_id:
            self.log.info("cancelling Redshift statement %s", self._statement_id)
            try:
                self.data_api.cancel(self._statement_id)
            except Exception:
                self.log.exception("could not cancel Redshift statement %s", self._statement_id)

    # -- validation ----------------------------------------------------------------------------------------
    def _validate(self) -> LoadJob:
        """The rendered options as a :class:`LoadJob`; every configuration mistake raised here, at once."""
        return job_from_options(self)

    def _dialect(self) -> Dialect:
        if self.method == "data_api":
            from airflow_sales_provider.sql.dialects import RedshiftDialect

            return RedshiftDialect()
        try:
            return self.hook.dialect
        except AirflowNotFoundException as exc:
            raise LoadConfigError(f"warehouse connection {self.redshift_conn_id!r} is not defined") from exc
        except ValueError as exc:  # the connection's type is not a warehouse
            raise LoadConfigError(f"redshift_conn_id {self.redshift_conn_id!r}: {exc}") from exc

    def _iam_role(self) -> str:
        return self.source.copy_role(self.iam_role_arn)

    # -- what to load --------------------------------------------------------------------------------------
    def _resolve_objects(self) -> tuple[str, list[S3Object]]:
        if self.method == "sql":
            self.source.prepare()  # the S3 client is made on a helper thread meanwhile
        bucket, objects = self.source.resolve(self.s3_bucket, self.s3_keys, self.s3_prefix, self.pattern)
        self.log.info("%s S3 objects selected in bucket %s", len(objects), bucket)
        return bucket, objects

    def _run_info(self, context: Context) -> RunInfo:
        ti = context_value(context, "ti")
        return RunInfo.of(ti, context_value(context, "run_id"), self.task_id, getattr(self, "dag_id", None))

    def _metadata(self, job: LoadJob, bucket: str, result: LoadResult, **extra: Any) -> dict[str, Any]:
        self._loaded = (bucket, list(result.loaded), result.rows)  # for lineage (docs/lineage.md)
        self._loaded_columns = list(result.columns)
        return load_metadata(
            job,
            bucket,
            result.loaded,
            result.skipped,
            result.rows,
            result.empty,
            max_files=self.max_files_in_xcom,
            **extra,
        )

    def _nothing_to_load(self, job: LoadJob, bucket: str, reason: str) -> dict[str, Any]:
        if not self.allow_empty:
            raise LoadError(f"nothing to load into {job.target_name} ({reason}) and allow_empty=False")
        self.log.warning("nothing to load into %s: %s", job.target_name, reason)
        return self._metadata(job, bucket, LoadResult([], [], 0, []))

    def redshift_statements(
        self,
        context: Context,
        dialect: Dialect,
        plan: LoadPlan,
        bucket: str,
        to_load: Sequence[S3Object],
        empty: Sequence[str],
        manifest_uri: str | None,
        gzip: bool,
        *,
        lock: bool = True,
    ) -> list[Statement]:
        """Every statement of the Redshift load, in transaction order (exact SQL, tested as strings)."""
        job = self._validate().with_role(self._iam_role() if manifest_uri else None)
        run = self._run_info(context)
        return redshift_statements(
            job, dialect, plan, bucket, to_load, empty, manifest_uri, run, gzip=gzip, lock=lock
        )
