"""Exactly-once loads of S3 files into Redshift or PostgreSQL: :class:`RedshiftLoadOperator`.

.. seealso:: ``docs/redshift-load.md`` (modes, the ledger, when to use which).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.compat import AirflowException, BaseOperator, conf, context_value
from airflow_sales_provider.hooks.warehouse import S3Object, S3SourceHook, split_s3_uri
from airflow_sales_provider.ledger import (
    DEFAULT_LEDGER_TABLE,
    create_table_sql,
    forget_target_sql,
    insert_from_copy_sql,
    insert_sql,
    ledger_identifier,
    loaded_objects_sql,
    normalise_etag,
)
from airflow_sales_provider.sql.identifiers import InvalidIdentifierError, validate_identifier
from airflow_sales_provider.sql.load import (
    COMPRESSIONS,
    MODES,
    FormatOptions,
    LoadConfigError,
    LoadPlan,
    Statement,
    create_stage_sql,
    drop_stage_sql,
    inline_params,
    mode_sql,
    partition_violations_sql,
    postgres_copy_sql,
    redshift_copy_sql,
    redshift_load_errors_sql,
    table_columns_sql,
)

if TYPE_CHECKING:
    from airflow_sales_provider.compat import Context
    from airflow_sales_provider.hooks.warehouse import Probe
    from airflow_sales_provider.sql.dialects import Dialect

METHODS = ("sql", "data_api")
RUNNING_STATES = ("SUBMITTED", "PICKED", "STARTED")
_COPY_CONTEXT = re.compile(r"line (\d+)(?:, column ([^:]+))?")


class LoadError(AirflowException):
    """The load failed and was rolled back: the target table and the ledger are unchanged."""


class S3KeySelection:
    """What ``s3_keys`` named: objects (with size/ETag when known), a bucket, or a manifest to read."""

    def __init__(
        self, objects: list[S3Object], bucket: str | None = None, manifest_uri: str | None = None
    ) -> None:
        self.objects = objects
        self.bucket = bucket
        self.manifest_uri = manifest_uri

    def __eq__(self, other: object) -> bool:
        return isinstance(other, S3KeySelection) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"S3KeySelection({self.objects!r}, bucket={self.bucket!r}, manifest_uri={self.manifest_uri!r})"


def parse_s3_keys(value: Any) -> S3KeySelection:
    """Read ``s3_keys`` in every shape the arrival sensor's XCom can take.

    Accepted: a list of keys; a list of ``{"key", "size", "etag"}`` dicts; the sensor's whole return
    value ``{"bucket", "prefix", "keys": [...]}`` or ``{"bucket", "prefix", "manifest_uri", "key_count"}``;
    or any of these rendered to a string (template rendering without native objects), parsed as JSON or a
    Python literal (``ast.literal_eval``, never ``eval``). A plain string that is neither is one key.
    """
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("[", "{", "("):
            parsed: Any = None
            try:
                parsed = json.loads(text)
            except ValueError:
                try:
                    parsed = ast.literal_eval(text)
                except (ValueError, SyntaxError) as exc:
                    raise LoadConfigError(
                        f"s3_keys {value[:200]!r} looks like a list or dict but does not parse: {exc}"
                    ) from None
            return parse_s3_keys(parsed)
        if not text:
            raise LoadConfigError("s3_keys is an empty string")
        if text == "None":  # an XCom that was never pushed, rendered without native objects
            return S3KeySelection([])
        return S3KeySelection([S3Object(text)])
    if isinstance(value, Mapping):
        bucket = value.get("bucket")
        if bucket is not None and not isinstance(bucket, str):
            raise LoadConfigError(f"s3_keys bucket must be a string, got {bucket!r}")
        if value.get("manifest_uri"):
            return S3KeySelection([], bucket=bucket, manifest_uri=str(value["manifest_uri"]))
        if "keys" not in value:
            raise LoadConfigError(
                f"s3_keys dict must have 'keys' or 'manifest_uri' (the S3 arrival sensor's XCom), "
                f"got keys {sorted(value)}"
            )
        inner = parse_s3_keys(list(value["keys"]))
        return S3KeySelection(inner.objects, bucket=bucket)
    if isinstance(value, (list, tuple)):
        objects = []
        for item in value:
            if isinstance(item, str) and item:
                objects.append(S3Object(item))
            elif isinstance(item, Mapping) and isinstance(item.get("key"), str) and item["key"]:
                size = item.get("size")
                etag = item.get("etag")
                objects.append(
                    S3Object(
                        item["key"],
                        int(size) if size is not None else None,
                        normalise_etag(str(etag)) if etag else None,
                    )
                )
            else:
                raise LoadConfigError(f"s3_keys item {item!r} is neither a key nor a {{'key': ...}} dict")
        return S3KeySelection(objects)
    raise LoadConfigError(f"s3_keys must be a list, a dict or a string, got {type(value).__name__}")


class RedshiftLoadOperator(BaseOperator):
    """Load S3 files into a Redshift or PostgreSQL table so that retries and reruns never duplicate rows.

    Files are staged in a session-temporary table and moved into the target with the ``mode``'s SQL,
    in one transaction with the ledger rows that record which objects (key + ETag) were loaded.

    .. seealso:: ``docs/redshift-load.md``

    :param table: target table (templated).
    :param s3_bucket: source bucket (templated); may come from an ``s3_keys`` dict instead.
    :param s3_keys: keys to load (templated): a list of keys, a list of ``{"key","size","etag"}``, or the
        S3 arrival sensor's XCom (also when rendered as a string).
    :param s3_prefix: load every object under this prefix instead (templated).
    :param pattern: glob on the full key for ``s3_prefix`` listings, e.g. ``"*.csv.gz"`` (templated).
    :param schema: target schema (templated).
    :param columns: the columns the files provide (templated); default: from the CSV header, or all the
        table's columns.
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
    :param upsert_keys: key columns for ``upsert`` (templated).
    :param order_by: which duplicate of a key is the latest (``"col"``, ``"col DESC"``); bare columns sort
        descending; default on PostgreSQL: the last row loaded (templated).
    :param ledger: record loaded objects and skip those already loaded (default ``True``).
    :param ledger_table: ledger table, ``table`` or ``schema.table`` (templated).
    :param force_reload: load objects even if the ledger has them.
    :param allow_empty: skip empty files (and an empty selection) with a warning; ``False``: fail.
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
        self._copying: str | None = None
        self._conn: Any = None

    # -- lineage: OpenLineage facets and the asset event (docs/lineage.md) ----------------------------------
    def target_dataset(self) -> Any:
        """The target table as a dataset name (reads the connection; Data API: the cluster or workgroup)."""
        from airflow_sales_provider.lineage import data_api_table
        from airflow_sales_provider.lineage.assets import connection_dataset

        if self.method == "data_api":
            region = self.data_api.region_name
            return data_api_table(self.data_api_kwargs or {}, region, self.table, self.schema)
        return connection_dataset(self.redshift_conn_id, self.table, self.schema)

    def post_execute(self, context: Any, result: Any = None) -> None:
        super().post_execute(context, result)
        if self.emit_asset:
            from airflow_sales_provider.lineage.assets import emit

            rows = self._loaded[2] if self._loaded else None
            emit(self, context, self.target_dataset(), {"rows_loaded": rows})

    def get_openlineage_facets_on_start(self) -> Any:
        """The target table, known before anything is listed or loaded."""
        from airflow_sales_provider.lineage.facets import dataset, openlineage_installed, operator_lineage

        if not openlineage_installed():
            return None
        return operator_lineage(outputs=[dataset(self.target_dataset())])

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The S3 objects loaded, the table with its output statistics and column lineage."""
        from airflow_sales_provider.lineage import s3_inputs
        from airflow_sales_provider.lineage.facets import load_lineage

        if self._loaded is None:
            return None
        bucket, objects, rows = self._loaded
        sizes = [o.size for o in objects]
        return load_lineage(
            s3_inputs(bucket, [o.key for o in objects]),
            self.target_dataset(),
            rows=rows,
            size=None if None in sizes else sum(s or 0 for s in sizes),
            files=len(objects),
            columns=self._loaded_columns if objects else (),
        )

    # -- hooks -------------------------------------------------------------------------------------------
    @cached_property
    def source(self) -> S3SourceHook:
        return S3SourceHook(aws_conn_id=self.aws_conn_id)

    @cached_property
    def warehouse(self) -> tuple[Any, Dialect]:
        """The connection's hook (PostgresHook / RedshiftSQLHook) and its SQL dialect."""
        from airflow_sales_provider.hooks.warehouse import warehouse_hook_and_dialect

        return warehouse_hook_and_dialect(self.redshift_conn_id)

    @cached_property
    def data_api(self) -> Any:
        from airflow.providers.amazon.aws.hooks.redshift_data import RedshiftDataHook

        return RedshiftDataHook(aws_conn_id=self.aws_conn_id, region_name=self.region)

    # -- entry points ------------------------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        self._validate()
        if self.method == "data_api":
            from airflow_sales_provider.sql.dialects import RedshiftDialect

            dialect: Dialect = RedshiftDialect()
            attached = self._reattach(context)
            if attached is not None:
                return attached
        else:
            dialect = self.warehouse[1]
        if self.format == "parquet" and not dialect.supports_parquet:
            raise LoadConfigError(
                f"format='parquet' is only supported on Redshift; connection {self.redshift_conn_id!r} is "
                f"{dialect.name}: convert the files to CSV or JSON"
            )
        bucket, objects = self._resolve_objects()
        if not objects:
            return self._nothing_to_load(bucket, reason="no S3 objects matched")
        if self.method == "data_api":
            return self._load_data_api(context, dialect, bucket, objects)
        if dialect.copy_from_s3:
            return self._load_redshift_sql(context, dialect, bucket, objects)
        return self._load_postgres(context, dialect, bucket, objects)

    def execute_complete(
        self, context: Context, event: dict[str, Any], meta: dict[str, Any]
    ) -> dict[str, Any]:
        """Resume after the trigger: succeed with the load's metadata, or fail naming the statement."""
        if not event or event.get("statement_id") != meta.get("statement_id"):
            raise LoadError(f"unexpected trigger event {event!r} for statement {meta.get('statement_id')}")
        self._statement_id = event["statement_id"]
        if event.get("status") != "success":
            raise LoadError(
                f"Redshift Data API load into {meta['table']} failed (statement {event['statement_id']}, "
                f"{event.get('state')}): {event.get('message')}. The transaction was rolled back; the table "
                "and the ledger are unchanged. Rejected rows are listed in "
                "sys_load_error_detail/stl_load_errors."
            )
        return self._finish_data_api(meta, event.get("result_rows") or [])

    def on_kill(self) -> None:
        """Cancel what runs: the Data API statement, or the SQL connection's current statement.

        A cancelled COPY aborts the load's transaction, which then rolls back: nothing is half-loaded.
        """
        cancel = getattr(self._conn, "cancel", None)
        if callable(cancel):
            self.log.info("cancelling the running load statement on %s", self.redshift_conn_id)
            try:
                cancel()
            except Exception:
                self.log.exception("could not cancel the load statement")
        if self._statement_id:
            self.log.info("cancelling Redshift statement %s", self._statement_id)
            try:
                self.data_api.conn.cancel_statement(Id=self._statement_id)
            except Exception:
                self.log.exception("could not cancel Redshift statement %s", self._statement_id)

    # -- validation and planning -------------------------------------------------------------------------
    def _validate(self) -> None:
        if self.mode not in MODES:
            raise LoadConfigError(f"mode {self.mode!r} is not supported: use one of {', '.join(MODES)}")
        if self.method not in METHODS:
            raise LoadConfigError(f"method {self.method!r} is not supported: use one of {', '.join(METHODS)}")
        if self.compression not in COMPRESSIONS:
            raise LoadConfigError(f"compression {self.compression!r}: use one of {', '.join(COMPRESSIONS)}")
        validate_identifier(self.table, "table")
        if self.schema:
            validate_identifier(self.schema, "schema")
        for column in self.columns or ():
            validate_identifier(column, "column")
        if self.mode == "replace_partition":
            if not self.partition_column or self.partition_value in (None, ""):
                raise LoadConfigError("mode='replace_partition' needs partition_column and partition_value")
            validate_identifier(self.partition_column, "partition_column")
        if self.mode == "upsert" and not self.upsert_keys:
            raise LoadConfigError("mode='upsert' needs upsert_keys (the columns that identify a row)")
        if self.ledger:
            ledger_identifier(self.ledger_table, self.schema)
        if (
            isinstance(self.upsert_keys, str)
            or isinstance(self.order_by, str)
            or isinstance(self.columns, str)
        ):
            raise LoadConfigError("columns, upsert_keys and order_by must be lists of column names")
        if self.method == "data_api":
            kwargs = self.data_api_kwargs or {}
            if not kwargs.get("database") or not (
                kwargs.get("cluster_identifier") or kwargs.get("workgroup_name")
            ):
                raise LoadConfigError(
                    "method='data_api' needs data_api_kwargs with 'database' and 'cluster_identifier' "
                    "or 'workgroup_name'"
                )
            unknown = set(kwargs) - {
                "database",
                "cluster_identifier",
                "workgroup_name",
                "db_user",
                "secret_arn",
            }
            if unknown:
                raise LoadConfigError(f"data_api_kwargs has unknown keys {sorted(unknown)}")
            if not self.columns:
                raise LoadConfigError(
                    "method='data_api' needs columns (the Data API path does not read the table)"
                )
        self._format_options(gzip=False)

    def _format_options(self, gzip: bool) -> FormatOptions:
        return FormatOptions(
            format=self.format,
            delimiter=self.delimiter,
            header=bool(self.header),
            quote=self.quote,
            null_string=self.null_string,
            date_format=self.date_format,
            time_format=self.time_format,
            json_paths=self.json_paths,
            gzip=gzip,
        ).validate()

    def _resolve_objects(self) -> tuple[str, list[S3Object]]:
        bucket = self.s3_bucket
        if self.s3_keys not in (None, "", []):
            selection = parse_s3_keys(self.s3_keys)
            if selection.bucket and bucket and selection.bucket != bucket:
                raise LoadConfigError(
                    f"s3_keys names bucket {selection.bucket!r} but s3_bucket is {bucket!r}"
                )
            bucket = selection.bucket or bucket
            objects = selection.objects
            if selection.manifest_uri:
                manifest = self.source.read_json(selection.manifest_uri)
                bucket = manifest.get("bucket") or bucket
                objects = parse_s3_keys(manifest.get("keys", [])).objects
            if not objects:
                return bucket or "", []
        elif self.s3_prefix is not None:
            if not bucket:
                raise LoadConfigError("s3_prefix needs s3_bucket")
            objects = self.source.list_objects(bucket, self.s3_prefix, self.pattern)
        else:
            raise LoadConfigError("give s3_keys (a list or the arrival sensor's XCom) or s3_prefix")
        if not bucket:
            raise LoadConfigError("no bucket: set s3_bucket")
        unique: dict[str, S3Object] = {}
        for obj in objects:
            unique.setdefault(obj.key, obj)
        described = [self.source.describe(bucket, obj) for obj in unique.values()]
        self.log.info("%s S3 objects selected in bucket %s", len(described), bucket)
        return bucket, described

    def _probe(self, bucket: str, objects: Sequence[S3Object]) -> dict[str, Probe]:
        if self.format == "parquet":
            return {}
        probes = {
            o.key: self.source.probe(
                bucket,
                o,
                csv_header=bool(self.header) and self.format == "csv",
                delimiter=self.delimiter,
                quote=self.quote,
            )
            for o in objects
        }
        if self.compression == "gzip":
            plain = [k for k, p in probes.items() if not p.gzip and not p.empty]
            if plain:
                raise LoadError(f"compression='gzip' but these objects are not gzip: {plain[:10]}")
        empty = [k for k, p in probes.items() if p.empty]
        if empty and not self.allow_empty:
            raise LoadError(
                f"{len(empty)} empty file(s) and allow_empty=False: "
                + ", ".join(f"s3://{bucket}/{k}" for k in empty[:10])
            )
        for key in empty:
            self.log.warning("s3://%s/%s is empty: recorded as loaded with 0 rows", bucket, key)
        return probes

    def _plan(
        self,
        bucket: str,
        probes: Mapping[str, Probe],
        table_columns: Sequence[tuple[str, bool]] | None,
        *,
        ordered_header: bool,
    ) -> LoadPlan:
        """Decide the loaded columns and check every file's header against them (schema drift)."""
        names = [c for c, _ in table_columns or ()]
        if table_columns is not None and not names:
            raise LoadError(f"table {self._target_name()} does not exist or has no columns")
        explicit = list(self.columns) if self.columns else None
        expected = explicit or names
        file_columns: list[str] | None = None
        if self.format == "csv" and self.header:
            for key, probe in probes.items():
                if probe.empty or probe.header is None:
                    continue
                header = probe.header
                problems = self._drift(header, expected, table_columns if not explicit else None)
                if problems:
                    raise LoadError(
                        f"schema drift in s3://{bucket}/{key} (checked before loading anything): {problems}. "
                        f"Expected columns {expected}; fix the file or set columns=..."
                    )
                if file_columns is None:
                    file_columns = header
                elif (header != file_columns) if ordered_header else (set(header) != set(file_columns)):
                    raise LoadError(
                        f"s3://{bucket}/{key} has header {header} but earlier files have {file_columns}: "
                        "all files of one load must have the same columns"
                        + (" in the same order (Redshift COPY maps by position)" if ordered_header else "")
                    )
        columns = file_columns or expected
        self._loaded_columns = list(columns)
        fill = bool(
            self.mode == "replace_partition"
            and self.partition_column
            and self.partition_column not in columns
        )
        try:
            return LoadPlan(
                schema=self.schema or None,
                table=self.table,
                columns=tuple(columns),
                mode=self.mode,
                partition_column=self.partition_column,
                upsert_keys=tuple(self.upsert_keys or ()),
                order_by=tuple(self.order_by or ()),
                fill_partition=fill,
            )
        except InvalidIdentifierError as exc:
            raise LoadConfigError(f"invalid identifier in the files or options: {exc}") from exc

    def _drift(
        self, header: Sequence[str], expected: Sequence[str], table_columns: Sequence[tuple[str, bool]] | None
    ) -> str:
        duplicated = sorted({c for c in header if list(header).count(c) > 1})
        unexpected = [c for c in header if c not in expected]
        if table_columns is not None:  # no explicit columns: required table columns must be present
            must = [c for c, required in table_columns if required]
        else:
            must = list(expected)
        missing = [c for c in must if c not in header and c != self._fillable_partition_column()]
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if unexpected:
            parts.append(f"unexpected columns {unexpected}")
        if duplicated:
            parts.append(f"duplicated columns {duplicated}")
        return "; ".join(parts)

    def _fillable_partition_column(self) -> str | None:
        return self.partition_column if self.mode == "replace_partition" else None

    def _select(
        self, objects: Sequence[S3Object], loaded: set[tuple[str, str]]
    ) -> tuple[list[S3Object], list[S3Object]]:
        """(to load, skipped). Replace modes are all-or-nothing: a new file reloads the whole set."""
        done = [o for o in objects if (o.key, o.etag) in loaded]
        new = [o for o in objects if (o.key, o.etag) not in loaded]
        if self.force_reload:
            return list(objects), []
        if self.mode in ("replace_partition", "truncate_insert"):
            return (list(objects), []) if new else ([], list(objects))
        return new, done

    def _target_name(self) -> str:
        return f"{self.schema}.{self.table}" if self.schema else self.table

    def _ledger_id(self) -> str:
        return ledger_identifier(self.ledger_table, self.schema)

    def _run_info(self, context: Context) -> tuple[str | None, str | None, int | None]:
        ti = context_value(context, "ti")
        dag_id = getattr(ti, "dag_id", None) or getattr(self, "dag_id", None)
        return (
            dag_id,
            context_value(context, "run_id") or getattr(ti, "run_id", None),
            getattr(ti, "try_number", None),
        )

    def _ledger_rows(
        self, context: Context, bucket: str, objects: Sequence[S3Object], rows: Mapping[str, int]
    ) -> list[tuple[Any, ...]]:
        dag_id, run_id, try_number = self._run_info(context)
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        return [
            (
                self._target_name(),
                bucket,
                o.key,
                o.etag,
                o.size,
                rows.get(o.key, 0),
                dag_id,
                run_id,
                try_number,
                now,
            )
            for o in objects
        ]

    def _metadata(
        self,
        bucket: str,
        loaded: Sequence[S3Object],
        skipped: Sequence[S3Object],
        rows: int | None,
        empty: Sequence[str] = (),
        **extra: Any,
    ) -> dict[str, Any]:
        limit = max(0, int(self.max_files_in_xcom))
        self._loaded = (bucket, list(loaded), rows)
        return {
            "table": self._target_name(),
            "mode": self.mode,
            "bucket": bucket,
            "rows_loaded": rows,
            "files_loaded": [o.key for o in loaded[:limit]],
            "files_loaded_count": len(loaded),
            "files_skipped": len(skipped),
            "files_empty": list(empty[:limit]),
            **extra,
        }

    def _nothing_to_load(self, bucket: str, reason: str) -> dict[str, Any]:
        if not self.allow_empty:
            raise LoadError(f"nothing to load into {self._target_name()} ({reason}) and allow_empty=False")
        self.log.warning("nothing to load into %s: %s", self._target_name(), reason)
        return self._metadata(bucket, [], [], 0)

    # -- PostgreSQL: stream each object through COPY FROM STDIN -------------------------------------------
    def _load_postgres(
        self, context: Context, dialect: Dialect, bucket: str, objects: list[S3Object]
    ) -> dict[str, Any]:
        hook = self.warehouse[0]
        ledger = self._ledger_id() if self.ledger else None
        conn = self._conn = hook.get_conn()
        try:
            conn.autocommit = False
            cur = conn.cursor()
            if ledger:
                _ensure_ledger(conn, cur, ledger)
                candidates, _ = self._select(objects, self._read_ledger(cur, ledger, bucket))
                conn.commit()
            else:
                candidates = objects
            table_columns = self._table_columns(cur)
            conn.commit()
            probes = self._probe(bucket, candidates)
            plan = self._plan(bucket, probes, table_columns, ordered_header=False)
            options = [self._format_options(gzip=self._is_gzip(probes.get(o.key))) for o in candidates]
            json_paths = self._json_paths(plan)

            # The transaction: lock the target, re-read the ledger (an overlapping run may have loaded
            # files meanwhile), stage, move, record.
            cur.execute(*dialect.load_lock_sql(ledger or "", plan.target_name))
            if ledger:
                to_load, skipped = self._select(objects, self._read_ledger(cur, ledger, bucket))
            else:
                to_load, skipped = objects, []
            if not to_load:
                conn.commit()
                self.log.info("all %s objects are already in the ledger: nothing to load", len(skipped))
                return self._metadata(bucket, [], skipped, 0)
            missing_probes = [o for o in to_load if o.key not in probes]
            if missing_probes:  # files that the first ledger read had skipped; rare (force/replace modes)
                probes = {**probes, **self._probe(bucket, missing_probes)}
                plan = self._plan(bucket, probes, table_columns, ordered_header=False)
                options += [self._format_options(gzip=self._is_gzip(probes[o.key])) for o in missing_probes]
            self._set_date_style(cur)
            for sql in dialect.session_setup_sql:  # best effort: a tuning setting must not fail a load
                cur.execute("SAVEPOINT sales_load_setup")
                try:
                    cur.execute(sql)
                except Exception:
                    cur.execute("ROLLBACK TO SAVEPOINT sales_load_setup")
                cur.execute("RELEASE SAVEPOINT sales_load_setup")
            for sql, params in create_stage_sql(dialect, plan):
                cur.execute(sql, params)
            by_key = {o.key: opt for o, opt in zip(candidates + missing_probes, options, strict=True)}
            rows: dict[str, int] = {}
            empty: list[str] = []
            for obj in to_load:
                if probes[obj.key].empty:
                    empty.append(obj.key)
                    rows[obj.key] = 0
                    continue
                # CSV columns are mapped by name: each file's COPY lists them in that file's header order.
                columns = probes[obj.key].header if self.format == "csv" and self.header else None
                rows[obj.key] = self._copy_one(
                    cur, bucket, obj, plan, by_key[obj.key], json_paths, columns or list(plan.columns)
                )
                self.log.info("staged %s rows from s3://%s/%s", rows[obj.key], bucket, obj.key)
            inserted = self._apply_mode(cur, dialect, plan)
            if ledger:
                self._write_ledger(cur, ledger, context, bucket, to_load, rows)
            conn.commit()
        except LoadError:
            _rollback(conn)
            raise
        except Exception as exc:
            _rollback(conn)
            translated = self._translate_pg_error(exc, bucket)
            if translated is exc:
                raise
            raise translated from exc
        finally:
            _close(conn)
            self._conn = None
        self.log.info("loaded %s rows into %s from %s objects", inserted, plan.target_name, len(to_load))
        return self._metadata(bucket, to_load, skipped, inserted, empty)

    def _copy_one(
        self,
        cur: Any,
        bucket: str,
        obj: S3Object,
        plan: LoadPlan,
        options: FormatOptions,
        json_paths: list[str] | None,
        columns: Sequence[str],
    ) -> int:
        from airflow_sales_provider.hooks.warehouse import (
            IterStream,
            copy_from_stream,
            iter_lines,
            json_lines_to_copy_text,
        )

        self._copying = obj.key
        stream: Any = self.source.open_stream(bucket, obj, gzip=options.gzip)
        try:
            if options.format == "json":
                stream_in = IterStream(json_lines_to_copy_text(iter_lines(stream), plan.columns, json_paths))
                try:
                    return copy_from_stream(cur, postgres_copy_sql(plan, options, plan.columns), stream_in)
                except Exception:
                    if stream_in.error is not None:  # psycopg2 wraps it in "error in .read() call"
                        raise stream_in.error from None
                    raise
            return copy_from_stream(cur, postgres_copy_sql(plan, options, columns), stream)
        finally:
            stream.close()

    def _apply_mode(self, cur: Any, dialect: Dialect, plan: LoadPlan) -> int:
        self._copying = None
        if self.mode == "replace_partition" and not plan.fill_partition:
            self._apply_partition_check(cur, plan)
        rowcount = 0
        for sql, params in mode_sql(dialect, plan, self.partition_value):
            cur.execute(sql, params)
            rowcount = cur.rowcount
        return int(rowcount)

    def _read_ledger(self, cur: Any, ledger: str, bucket: str) -> set[tuple[str, str]]:
        cur.execute(*loaded_objects_sql(ledger, self._target_name(), bucket))
        return {(k, e) for k, e in cur.fetchall()}

    def _write_ledger(
        self,
        cur: Any,
        ledger: str,
        context: Context,
        bucket: str,
        objects: Sequence[S3Object],
        rows: Mapping[str, int],
    ) -> None:
        for sql, params in forget_target_sql(ledger, self._target_name(), bucket, [o.key for o in objects]):
            cur.execute(sql, params)
        cur.executemany(insert_sql(ledger), self._ledger_rows(context, bucket, objects, rows))

    def _table_columns(self, cur: Any) -> list[tuple[str, bool]]:
        cur.execute(*table_columns_sql(self.schema or None, self.table))
        return [(name, bool(required)) for name, required in cur.fetchall()]

    def _is_gzip(self, probe: Probe | None) -> bool:
        if self.compression == "gzip":
            return True
        if self.compression == "none":
            return False
        return bool(probe and probe.gzip)

    def _json_paths(self, plan: LoadPlan) -> list[str] | None:
        if self.format != "json" or self.json_paths == "auto":
            return None
        document = self.source.read_json(self.json_paths)
        paths = document.get("jsonpaths") if isinstance(document, dict) else None
        if not isinstance(paths, list) or len(paths) != len(plan.columns):
            raise LoadConfigError(
                f"jsonpaths file {self.json_paths} must hold {{'jsonpaths': [...]}} with one path per column "
                f"({len(plan.columns)}: {list(plan.columns)}), "
                f"got {len(paths) if isinstance(paths, list) else paths!r}"
            )
        return [str(p) for p in paths]

    def _set_date_style(self, cur: Any) -> None:
        if self.time_format not in (None, "auto"):
            raise LoadConfigError("time_format is Redshift only: PostgreSQL reads ISO 8601 timestamps")
        styles = {
            None: None,
            "auto": None,
            "YYYY-MM-DD": None,
            "MM/DD/YYYY": "ISO, MDY",
            "DD/MM/YYYY": "ISO, DMY",
        }
        if self.date_format not in styles:
            raise LoadConfigError(
                f"date_format {self.date_format!r} is not supported on PostgreSQL: use one of "
                "'auto', 'YYYY-MM-DD', 'MM/DD/YYYY', 'DD/MM/YYYY'"
            )
        style = styles[self.date_format]
        if style:
            cur.execute("SELECT set_config('DateStyle', %s, true)", (style,))

    def _translate_pg_error(self, exc: Exception, bucket: str) -> Exception:
        key = getattr(self, "_copying", None)
        where = f"s3://{bucket}/{key}" if key else self._target_name()
        from airflow_sales_provider.hooks.warehouse import JsonLinesError

        if isinstance(exc, JsonLinesError) or isinstance(exc.__cause__, JsonLinesError):
            err = exc if isinstance(exc, JsonLinesError) else exc.__cause__
            return LoadError(f"bad row in {where} at line {err.line}: {err}. Nothing was loaded.")  # type: ignore[union-attr]
        if isinstance(exc, (LoadConfigError, InvalidIdentifierError)):
            return exc
        diag = getattr(exc, "diag", None)
        primary = getattr(diag, "message_primary", None) or str(exc).strip().splitlines()[0]
        copy_context = getattr(diag, "context", None) or ""
        match = _COPY_CONTEXT.search(copy_context)
        if key and match:
            line, column = match.group(1), match.group(2)
            return LoadError(
                f"bad row in {where} at line {line}"
                + (f", column {column.strip()}" if column else "")
                + f": {primary}. The load was rolled back: {self._target_name()} and the ledger are "
                "unchanged."
            )
        if type(exc).__name__ in ("OperationalError", "InterfaceError", "AdminShutdown", "ConnectionFailure"):
            return LoadError(
                f"lost the warehouse connection while loading {where}: {primary}. The transaction was rolled "
                "back by the server; retrying the task loads the files once."
            )
        return LoadError(f"load into {self._target_name()} failed at {where}: {primary}. Nothing was loaded.")

    # -- Redshift: COPY from S3 with a manifest -----------------------------------------------------------
    def _iam_role(self) -> str:
        if self.iam_role_arn:
            return self.iam_role_arn
        if self.aws_conn_id:
            extra = self.source.get_connection(self.aws_conn_id).extra_dejson
            role = extra.get("role_arn")
            if role:
                return str(role)
        raise LoadConfigError(
            "Redshift COPY needs iam_role_arn (or a 'role_arn' extra on the AWS connection): "
            "access keys are never written into COPY SQL"
        )

    def _manifest_base(self, bucket: str) -> str:
        base = self.manifest_prefix or f"s3://{bucket}/_sales_load/"
        split_s3_uri(base if "/" in base[5:] else base + "/")
        return base if base.endswith("/") else base + "/"

    def _run_path(self, context: Context) -> str:
        dag_id, run_id, _ = self._run_info(context)
        map_index = getattr(context_value(context, "ti"), "map_index", -1)
        task = (
            self.task_id if not isinstance(map_index, int) or map_index < 0 else f"{self.task_id}-{map_index}"
        )
        return re.sub(r"[^A-Za-z0-9_.=+-]", "_", f"{dag_id}={task}={run_id}")

    def _write_manifest(self, context: Context, bucket: str, objects: Sequence[S3Object]) -> str:
        uri = f"{self._manifest_base(bucket)}manifests/{self._run_path(context)}.manifest"
        self.source.put_json(
            uri,
            {
                "entries": [
                    {"url": f"s3://{bucket}/{o.key}", "mandatory": True, "meta": {"content_length": o.size}}
                    for o in objects
                ]
            },
        )
        return uri

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
        ledger = self._ledger_id() if self.ledger else None
        statements: list[Statement] = []
        if ledger and lock:
            statements.append((create_table_sql(ledger), ()))
            statements.append(dialect.load_lock_sql(ledger, plan.target_name))
        statements += create_stage_sql(dialect, plan)
        if manifest_uri:
            copy = redshift_copy_sql(
                plan,
                self._format_options(gzip=gzip),
                manifest_uri=manifest_uri,
                iam_role_arn=self._iam_role(),
                region=self.region,
            )
            statements.append((copy, ()))
        statements += mode_sql(dialect, plan, self.partition_value)
        if ledger:
            statements += [
                (s, tuple(p))
                for s, p in forget_target_sql(ledger, self._target_name(), bucket, [o.key for o in to_load])
            ]
            rows = self._ledger_rows(context, bucket, to_load, {})
            for obj, row in zip(to_load, rows, strict=True):
                if obj.key in empty:
                    statements.append((insert_sql(ledger), row))
                else:
                    statements.append(
                        (insert_from_copy_sql(ledger), (*row[:5], *row[6:9], f"s3://{bucket}/{obj.key}"))
                    )
        statements += drop_stage_sql()
        return statements

    def _redshift_gzip(self, probes: Mapping[str, Probe], objects: Sequence[S3Object]) -> bool:
        flags = {
            self._is_gzip(probes.get(o.key))
            for o in objects
            if not (probes.get(o.key) and probes[o.key].empty)
        }
        if len(flags) > 1:
            raise LoadConfigError(
                "some files are gzip and some are not: one Redshift COPY needs them all alike"
            )
        return flags == {True}

    def _load_redshift_sql(
        self, context: Context, dialect: Dialect, bucket: str, objects: list[S3Object]
    ) -> dict[str, Any]:
        hook = self.warehouse[0]
        ledger = self._ledger_id() if self.ledger else None
        conn = self._conn = hook.get_conn()
        manifest_uri = None
        try:
            conn.autocommit = False
            cur = conn.cursor()
            if ledger:
                _ensure_ledger(conn, cur, ledger)
            table_columns = self._table_columns(cur)
            conn.commit()
            if ledger:
                cur.execute(*dialect.load_lock_sql(ledger, self._target_name()))
                to_load, skipped = self._select(objects, self._read_ledger(cur, ledger, bucket))
            else:
                to_load, skipped = objects, []
            if not to_load:
                conn.commit()
                return self._metadata(bucket, [], skipped, 0)
            probes = self._probe(bucket, to_load)
            plan = self._plan(bucket, probes, table_columns, ordered_header=True)
            empty = [k for k, p in probes.items() if p.empty]
            data = [o for o in to_load if o.key not in empty]
            manifest_uri = self._write_manifest(context, bucket, data) if data else None
            statements = self.redshift_statements(
                context,
                dialect,
                plan,
                bucket,
                to_load,
                empty,
                manifest_uri,
                self._redshift_gzip(probes, to_load),
                lock=False,
            )
            inserted = 0
            mode_sqls = {s for s, _ in mode_sql(dialect, plan, self.partition_value)}
            for sql, params in statements:
                cur.execute(sql, params)
                if sql.startswith("COPY ") and self.mode == "replace_partition" and not plan.fill_partition:
                    self._apply_partition_check(cur, plan)
                if sql in mode_sqls:
                    inserted = int(cur.rowcount)
            conn.commit()
        except Exception as exc:
            _rollback(conn)
            if isinstance(exc, (LoadError, LoadConfigError, InvalidIdentifierError)):
                raise
            raise self._redshift_error(conn, exc, bucket) from exc
        finally:
            _close(conn)
            self._conn = None
        return self._metadata(bucket, to_load, skipped, inserted, empty, manifest_uri=manifest_uri)

    def _apply_partition_check(self, cur: Any, plan: LoadPlan) -> None:
        cur.execute(*partition_violations_sql(plan, self.partition_value))
        outside = int(cur.fetchone()[0])
        if outside:
            raise LoadError(
                f"{outside} row(s) of the batch have {plan.partition_column} other than "
                f"{self.partition_value!r}: mode='replace_partition' only loads rows of the partition it "
                "replaces (they would survive the next replace and duplicate). Nothing was loaded."
            )

    def _redshift_error(self, conn: Any, exc: Exception, bucket: str) -> LoadError:
        try:
            cur = conn.cursor()
            cur.execute(redshift_load_errors_sql())
            rejected = cur.fetchall()
        except Exception:
            rejected = []
        return LoadError(translate_load_errors(self._target_name(), exc, rejected))

    # -- Redshift Data API: one batch statement, durable across retries ------------------------------------
    def _marker_uri(self, context: Context, bucket: str) -> str:
        return f"{self._manifest_base(bucket)}statements/{self._run_path(context)}.json"

    def _reattach(self, context: Context) -> dict[str, Any] | None:
        """If an earlier try of this task run submitted the load, wait for that statement instead."""
        bucket = self.s3_bucket
        if not bucket and self.s3_keys:
            bucket = parse_s3_keys(self.s3_keys).bucket
        if not bucket and not self.manifest_prefix:
            return None
        marker_uri = self._marker_uri(context, bucket or "")
        marker = self.source.read_json_if_exists(marker_uri)
        if not marker:
            return None
        statement_id = marker["statement_id"]
        state = self.data_api.conn.describe_statement(Id=statement_id)["Status"]
        meta = marker["meta"]
        if state in RUNNING_STATES:
            self.log.info(
                "re-attaching to Redshift statement %s (%s) submitted by an earlier try", statement_id, state
            )
            self._statement_id = statement_id
            return self._wait_data_api(meta)
        if state == "FINISHED" and not self.force_reload:
            self.log.info(
                "Redshift statement %s of an earlier try already finished: not loading again", statement_id
            )
            return {**meta, "reattached": True}
        self.log.info(
            "earlier Redshift statement %s ended as %s: submitting the load again", statement_id, state
        )
        self.source.delete(marker_uri)
        return None

    def _load_data_api(
        self, context: Context, dialect: Dialect, bucket: str, objects: list[S3Object]
    ) -> dict[str, Any]:
        ledger = self._ledger_id() if self.ledger else None
        if ledger:
            to_load, skipped = self._select(objects, self._read_ledger_data_api(ledger, bucket))
        else:
            to_load, skipped = objects, []
        if not to_load:
            return self._metadata(bucket, [], skipped, 0)
        probes = self._probe(bucket, to_load)
        plan = self._plan(bucket, probes, None, ordered_header=True)
        empty = [k for k, p in probes.items() if p.empty]
        data = [o for o in to_load if o.key not in empty]
        manifest_uri = self._write_manifest(context, bucket, data) if data else None
        statements = self.redshift_statements(
            context, dialect, plan, bucket, to_load, empty, manifest_uri, self._redshift_gzip(probes, to_load)
        )
        sqls = [inline_params(sql, params) for sql, params in statements]
        try:
            response = self.data_api.conn.batch_execute_statement(Sqls=sqls, **self._data_api_target())
        except Exception as exc:
            raise LoadError(
                f"the Redshift Data API did not accept the load into {plan.target_name} ({len(sqls)} "
                f"statements in one batch): {exc}. Nothing was loaded."
            ) from exc
        self._statement_id = response["Id"]
        meta = self._metadata(
            bucket,
            to_load,
            skipped,
            None,
            empty,
            manifest_uri=manifest_uri,
            statement_id=self._statement_id,
            mode_statement=_mode_statement_index(statements, dialect, plan, self.partition_value),
        )
        self.source.put_json(
            self._marker_uri(context, bucket), {"statement_id": self._statement_id, "meta": meta}
        )
        self.log.info(
            "submitted the load as Redshift statement %s (%s statements)", self._statement_id, len(sqls)
        )
        return self._wait_data_api(meta)

    def _wait_data_api(self, meta: dict[str, Any]) -> dict[str, Any]:
        from airflow_sales_provider.triggers.redshift_data import RedshiftLoadTrigger, statement_result_rows

        if self.deferrable:
            self.defer(
                trigger=RedshiftLoadTrigger(
                    statement_id=meta["statement_id"],
                    aws_conn_id=self.aws_conn_id,
                    region_name=self.region,
                    poll_interval=self.poll_interval,
                ),
                method_name="execute_complete",
                kwargs={"meta": meta},
            )
        import time

        while True:
            description = self.data_api.conn.describe_statement(Id=meta["statement_id"])
            if description["Status"] not in RUNNING_STATES:
                break
            time.sleep(self.poll_interval)
        event = {
            "status": "success" if description["Status"] == "FINISHED" else "error",
            "statement_id": meta["statement_id"],
            "state": description["Status"],
            "message": description.get("Error"),
            "result_rows": statement_result_rows(description),
        }
        return self.execute_complete({}, event, meta)

    def _finish_data_api(self, meta: dict[str, Any], result_rows: Sequence[int]) -> dict[str, Any]:
        index = meta.get("mode_statement")
        if isinstance(index, int) and 0 <= index < len(result_rows) and result_rows[index] >= 0:
            meta = {**meta, "rows_loaded": result_rows[index]}
        rows = meta.get("rows_loaded")
        if self._loaded is None:  # resumed from the triggerer: what the metadata lists
            listed = [S3Object(k) for k in meta.get("files_loaded") or ()]
            self._loaded = (str(meta.get("bucket") or ""), listed, rows)
        else:
            self._loaded = (*self._loaded[:2], rows)
        self.log.info("Redshift statement %s finished: %s", meta["statement_id"], meta.get("rows_loaded"))
        return meta

    def _data_api_target(self) -> dict[str, Any]:
        kwargs = self.data_api_kwargs or {}
        mapping = {
            "database": "Database",
            "cluster_identifier": "ClusterIdentifier",
            "workgroup_name": "WorkgroupName",
            "db_user": "DbUser",
            "secret_arn": "SecretArn",
        }
        return {mapping[k]: v for k, v in kwargs.items() if v is not None and k in mapping}

    def _read_ledger_data_api(self, ledger: str, bucket: str) -> set[tuple[str, str]]:
        sql, params = loaded_objects_sql(ledger, self._target_name(), bucket)
        response = self.data_api.conn.batch_execute_statement(
            Sqls=[create_table_sql(ledger), inline_params(sql, params)], **self._data_api_target()
        )
        self.data_api.wait_for_results(response["Id"], poll_interval=self.poll_interval)
        loaded: set[tuple[str, str]] = set()
        token = None
        while True:
            kwargs = {"Id": f"{response['Id']}:2", **({"NextToken": token} if token else {})}
            page = self.data_api.conn.get_statement_result(**kwargs)
            loaded |= ledger_records(page.get("Records", []))
            token = page.get("NextToken")
            if not token:
                return loaded


def _mode_statement_index(
    statements: Sequence[Statement], dialect: Dialect, plan: LoadPlan, value: Any
) -> int:
    """Index (in the batch) of the statement whose row count is the number of rows loaded."""
    last_mode_sql = mode_sql(dialect, plan, value)[-1][0]
    indexes = [i for i, (sql, _) in enumerate(statements) if sql == last_mode_sql]
    return indexes[-1] if indexes else -1


def ledger_records(records: Sequence[Sequence[Mapping[str, Any]]]) -> set[tuple[str, str]]:
    """``(s3_key, etag)`` pairs from Data API ``GetStatementResult`` records (string fields only)."""
    pairs = set()
    for record in records:
        if len(record) >= 2 and "stringValue" in record[0] and "stringValue" in record[1]:
            pairs.add((record[0]["stringValue"], record[1]["stringValue"]))
    return pairs


def translate_load_errors(target: str, exc: Exception, rejected: Sequence[Sequence[Any]]) -> str:
    """A load failure message naming the file, line and column from Redshift's ``stl_load_errors`` rows."""
    if rejected:
        filename, line, column, reason, raw = (list(rejected[0]) + [None] * 5)[:5]
        return (
            f"bad row in {str(filename).strip()} at line {line}, column {str(column).strip()}: "
            f"{str(reason).strip()} (value {str(raw).strip()!r}). The load was rolled back: {target} and the "
            f"ledger are unchanged ({len(rejected)} rejected row(s) listed in stl_load_errors)."
        )
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"load into {target} failed: {first}. The transaction was rolled back; nothing was loaded."


def _ensure_ledger(conn: Any, cur: Any, ledger: str) -> None:
    """``CREATE TABLE IF NOT EXISTS`` the ledger; two first runs racing to create it both succeed.

    (PostgreSQL can fail the loser of that race with a unique violation on its catalog: it retries once
    the winner has committed, and then finds the table.)
    """
    for attempt in (1, 2):
        try:
            cur.execute(create_table_sql(ledger))
            conn.commit()
            return
        except Exception:
            conn.rollback()
            if attempt == 2:
                raise


def _rollback(conn: Any) -> None:
    try:
        conn.rollback()
    except Exception:  # the connection may be gone: the server rolled back already
        pass


def _close(conn: Any) -> None:
    try:
        conn.close()
    except Exception:
        pass
