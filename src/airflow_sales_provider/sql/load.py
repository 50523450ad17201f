"""SQL for idempotent S3 -> warehouse loads: pure string building, no connection, no Airflow.

Every statement is returned as ``(sql, params)`` with ``%s`` placeholders (the paramstyle of psycopg2 and
redshift_connector). Identifiers are validated and quoted with :mod:`airflow_sales_provider.sql.identifiers`;
values are bound parameters. The Redshift Data API's ``BatchExecuteStatement`` takes no parameters, so
:func:`inline_params` renders them as literals, refusing anything that a literal cannot carry safely.

COPY options that Redshift and PostgreSQL only accept as literals (the S3 URI, the IAM role, delimiters)
go through :func:`copy_literal`, which has the same refusals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.objects import parse_s3_uri
from airflow_sales_provider.sql.identifiers import (
    InvalidIdentifierError,
    quote_identifier,
    quote_qualified,
    validate_identifier,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_sales_provider.sql.dialects import Dialect

MODES = ("append", "replace_partition", "upsert", "truncate_insert")
FORMATS = ("csv", "json", "parquet")
COMPRESSIONS = ("auto", "gzip", "none")

#: the session-temporary tables a load uses; fixed names are safe because temp tables are per session.
STAGE_TABLE = "_sales_stage"
BATCH_TABLE = "_sales_batch"
#: load order in the PostgreSQL staging table: "latest" for an upsert without ``order_by``.
SEQ_COLUMN = "_sales_load_seq"
RANK_COLUMN = "_sales_rn"

Statement = tuple[str, tuple[Any, ...]]

_UNSAFE_LITERAL = re.compile(r"[\\\x00-\x08\x0a-\x1f\x7f]")
_ORDER_ITEM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_$]*)(?:\s+(ASC|DESC))?\s*$", re.IGNORECASE)
_IAM_ROLE = re.compile(r"^arn:aws[a-zA-Z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")


def _is_s3_object_uri(value: object) -> bool:
    """An ``s3://bucket/key`` URI as COPY reads it (not ``s3a://``, not a prefix, no whitespace)."""
    try:
        parse_s3_uri(value)  # type: ignore[arg-type]
    except ValueError:
        return False
    return isinstance(value, str) and value.startswith("s3://") and not any(c.isspace() for c in value)


class LoadConfigError(ValueError):
    """An option of the load is invalid; the message names the option and what to use instead."""


def copy_literal(value: object, what: str) -> str:
    """A single-quoted SQL literal for a COPY option or an inlined value.

    Quotes are doubled; backslashes and control characters (except TAB) are refused because Redshift
    and PostgreSQL read them differently, so no quoting is safe for both.
    """
    if not isinstance(value, str):
        raise LoadConfigError(f"{what} must be a string, got {value!r}")
    if _UNSAFE_LITERAL.search(value):
        raise LoadConfigError(
            f"{what} {value!r} contains a backslash or a control character, which cannot be passed "
            "safely to COPY; use plain characters"
        )
    return "'" + value.replace("'", "''") + "'"


def inline_params(sql: str, params: Sequence[Any]) -> str:
    """Render ``%s`` placeholders as literals (for the Redshift Data API batch, which has no parameters)."""
    parts = sql.split("%s")
    if len(parts) - 1 != len(params):
        raise ValueError(f"statement has {len(parts) - 1} placeholders but {len(params)} parameters")
    out = [parts[0]]
    for value, rest in zip(params, parts[1:], strict=True):
        if value is None:
            out.append("NULL")
        elif isinstance(value, bool):
            out.append("TRUE" if value else "FALSE")
        elif isinstance(value, int):
            out.append(str(value))
        else:
            out.append(copy_literal(str(value), "parameter value"))
        out.append(rest)
    return "".join(out)


@dataclass(frozen=True)
class FormatOptions:
    """File format options, shared by the Redshift COPY and the PostgreSQL streaming path.

    :param format: ``csv``, ``json`` or ``parquet`` (Redshift only).
    :param delimiter: CSV field delimiter (one character).
    :param header: whether CSV files start with a header row (used to map and check columns).
    :param quote: CSV quote character.
    :param null_string: the text that means NULL in CSV files.
    :param date_format: Redshift ``DATEFORMAT`` (e.g. ``'auto'``, ``'YYYY-MM-DD'``).
    :param time_format: Redshift ``TIMEFORMAT``.
    :param json_paths: ``'auto'`` or the ``s3://`` URI of a jsonpaths file.
    :param gzip: the files are gzip-compressed.
    """

    format: str = "csv"
    delimiter: str = ","
    header: bool = True
    quote: str = '"'
    null_string: str = ""
    date_format: str | None = None
    time_format: str | None = None
    json_paths: str = "auto"
    gzip: bool = False

    def validate(self) -> FormatOptions:
        if self.format not in FORMATS:
            raise LoadConfigError(f"format {self.format!r} is not supported: use one of {', '.join(FORMATS)}")
        if self.format == "csv":
            for name in ("delimiter", "quote"):
                value = getattr(self, name)
                if not isinstance(value, str) or len(value) != 1:
                    raise LoadConfigError(f"{name} must be exactly one character, got {value!r}")
            if self.delimiter == self.quote:
                raise LoadConfigError("delimiter and quote must differ")
        if self.format == "json" and self.json_paths != "auto" and not _is_s3_object_uri(self.json_paths):
            raise LoadConfigError(
                f"json_paths must be 'auto' or an s3://bucket/key URI of a jsonpaths file, "
                f"got {self.json_paths!r}"
            )
        return self


@dataclass(frozen=True)
class LoadPlan:
    """Where and how the staged rows go; validated on construction.

    :param schema: target schema (``None``: the connection's search path).
    :param table: target table.
    :param columns: the columns the files provide, in file order (mapped by name from the header).
    :param mode: one of :data:`MODES`.
    :param partition_column: for ``replace_partition``: the column that defines the partition.
    :param upsert_keys: for ``upsert``: the key columns.
    :param order_by: for ``upsert``: which duplicate of a key is "latest" (``"col"`` or ``"col ASC"``;
        bare columns sort descending, so the greatest value wins).
    """

    schema: str | None
    table: str
    columns: tuple[str, ...]
    mode: str = "append"
    partition_column: str | None = None
    upsert_keys: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()
    #: the partition column is not in the files: fill it with the bound partition value.
    fill_partition: bool = field(default=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise LoadConfigError(f"mode {self.mode!r} is not supported: use one of {', '.join(MODES)}")
        if self.schema is not None:
            validate_identifier(self.schema, "schema")
        validate_identifier(self.table, "table")
        if not self.columns:
            raise LoadConfigError("the load has no columns")
        for column in self.columns:
            validate_identifier(column, "column")
        if self.mode == "replace_partition":
            if not self.partition_column:
                raise LoadConfigError("mode='replace_partition' needs partition_column and partition_value")
            validate_identifier(self.partition_column, "partition_column")
        if self.mode == "upsert":
            if not self.upsert_keys:
                raise LoadConfigError("mode='upsert' needs upsert_keys (the columns that identify a row)")
            for key in self.upsert_keys:
                validate_identifier(key, "upsert_keys")
                if key not in self.columns:
                    raise LoadConfigError(f"upsert key {key!r} is not among the loaded columns")
            for item in self.order_by:
                match = _ORDER_ITEM.match(item) if isinstance(item, str) else None
                if not match:
                    raise InvalidIdentifierError(
                        f"order_by item {item!r} must be 'column', 'column ASC' or 'column DESC'"
                    )
                if match.group(1) not in self.columns:
                    raise LoadConfigError(
                        f"order_by column {match.group(1)!r} is not among the loaded columns"
                    )

    @property
    def target(self) -> str:
        return quote_qualified(self.schema, self.table, what="table")

    @property
    def target_name(self) -> str:
        """``schema.table`` unquoted: how the ledger names the target."""
        return f"{self.schema}.{self.table}" if self.schema else self.table

    def column_list(self, prefix: str = "") -> str:
        return ", ".join(prefix + quote_identifier(c, "column") for c in self.columns)


# -- staging ---------------------------------------------------------------------------------------------
def create_stage_sql(dialect: Dialect, plan: LoadPlan) -> list[Statement]:
    """The session-temporary staging table shaped like the target (plus a load sequence on PostgreSQL)."""
    stage = quote_identifier(STAGE_TABLE)
    if plan.fill_partition:
        # Only the files' columns (without the target's NOT NULL on the partition column they lack).
        return [
            (
                f"CREATE TEMP TABLE {stage}{dialect.temp_table_suffix} AS "
                f"SELECT {plan.column_list()} FROM {plan.target} LIMIT 0",
                (),
            )
        ]
    like = f"LIKE {plan.target}{dialect.like_defaults}"
    statements: list[Statement] = [(f"CREATE TEMP TABLE {stage} ({like}){dialect.temp_table_suffix}", ())]
    if plan.mode == "upsert" and dialect.load_sequence_column_sql:
        seq = quote_identifier(SEQ_COLUMN)
        statements.append((f"ALTER TABLE {stage} ADD COLUMN {seq} {dialect.load_sequence_column_sql}", ()))
    return statements


def drop_stage_sql() -> list[Statement]:
    return [
        (f"DROP TABLE IF EXISTS {quote_identifier(BATCH_TABLE)}", ()),
        (f"DROP TABLE IF EXISTS {quote_identifier(STAGE_TABLE)}", ()),
    ]


def postgres_copy_sql(
    plan: LoadPlan,
    options: FormatOptions,
    columns: Sequence[str],
    *,
    into_target: bool = False,
    where: str | None = None,
) -> str:
    """``COPY _sales_stage (...) FROM STDIN`` for one streamed object (``into_target``: the target itself).

    CSV files are passed through as they are (``HEADER`` skips their header, so PostgreSQL's line numbers
    are the file's); JSON files are converted by the loader to PostgreSQL's text format, one line per object.
    ``where`` is a ``WHERE`` clause of :func:`partition_guard_sql`.
    """
    stage = plan.target if into_target else quote_identifier(STAGE_TABLE)
    cols = ", ".join(quote_identifier(c, "column") for c in columns)
    if options.format == "csv":
        opts = [
            "FORMAT csv",
            f"DELIMITER {copy_literal(options.delimiter, 'delimiter')}",
            f"QUOTE {copy_literal(options.quote, 'quote')}",
            f"NULL {copy_literal(options.null_string, 'null_string')}",
            f"HEADER {'true' if options.header else 'false'}",
        ]
    elif options.format == "json":
        opts = ["FORMAT text"]
    else:
        raise LoadConfigError(
            "format='parquet' is only supported on Redshift (COPY ... FORMAT AS PARQUET); PostgreSQL has no "
            "parquet reader: convert the files to CSV or JSON, or load into Redshift"
        )
    copy = f"COPY {stage} ({cols}) FROM STDIN WITH ({', '.join(opts)})"
    return f"{copy} {where}" if where else copy


def redshift_copy_sql(
    plan: LoadPlan,
    options: FormatOptions,
    *,
    manifest_uri: str,
    iam_role_arn: str,
    region: str | None = None,
) -> str:
    """``COPY _sales_stage (...) FROM 's3://...manifest' IAM_ROLE '...' MANIFEST ...``.

    The role is the only credential COPY gets: access keys are never written into SQL.
    """
    if not _is_s3_object_uri(manifest_uri):
        raise LoadConfigError(f"manifest URI {manifest_uri!r} is not an s3://bucket/key URI")
    if not isinstance(iam_role_arn, str) or not _IAM_ROLE.match(iam_role_arn):
        raise LoadConfigError(
            f"iam_role_arn {iam_role_arn!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
        )
    stage = quote_identifier(STAGE_TABLE)
    parts = [
        f"COPY {stage} ({plan.column_list()})",
        f"FROM {copy_literal(manifest_uri, 'manifest URI')}",
        f"IAM_ROLE {copy_literal(iam_role_arn, 'iam_role_arn')}",
        "MANIFEST",
    ]
    if region:
        if not re.match(r"^[a-z]{2}(-[a-z]+)+-\d$", region):
            raise LoadConfigError(f"region {region!r} is not an AWS region name")
        parts.append(f"REGION {copy_literal(region, 'region')}")
    if options.format == "csv":
        delimiter = "'\\t'" if options.delimiter == "\t" else copy_literal(options.delimiter, "delimiter")
        parts += [
            "FORMAT AS CSV",
            f"DELIMITER {delimiter}",
            f"QUOTE AS {copy_literal(options.quote, 'quote')}",
            f"NULL AS {copy_literal(options.null_string, 'null_string')}",
        ]
        if options.header:
            parts.append("IGNOREHEADER 1")
    elif options.format == "json":
        parts.append(f"FORMAT AS JSON {copy_literal(options.json_paths, 'json_paths')}")
    else:
        parts.append("FORMAT AS PARQUET")
    if options.format != "parquet":
        if options.date_format:
            parts.append(f"DATEFORMAT {copy_literal(options.date_format, 'date_format')}")
        if options.time_format:
            parts.append(f"TIMEFORMAT {copy_literal(options.time_format, 'time_format')}")
        if options.gzip:
            parts.append("GZIP")
    return " ".join(parts)


def redshift_load_errors_sql() -> str:
    """The rejected rows of the last COPY in this session (read after the load's transaction rolled back)."""
    return (
        "SELECT TRIM(filename), line_number, TRIM(colname), TRIM(err_reason), TRIM(raw_field_value) "
        "FROM stl_load_errors WHERE query = pg_last_copy_id() ORDER BY starttime, line_number LIMIT 10"
    )


# -- modes -----------------------------------------------------------------------------------------------
def copies_into_target(plan: LoadPlan) -> bool:
    """PostgreSQL: whether the mode can ``COPY`` straight into the target (no staging table).

    ``append``, ``truncate_insert`` and ``replace_partition`` (when the files carry the partition column)
    can: their SQL runs before the COPY (:func:`direct_mode_sql`), in the same transaction. ``upsert``
    must de-duplicate the batch, and a partition column the files lack must be filled: those stage.
    """
    return plan.mode in ("append", "truncate_insert") or (
        plan.mode == "replace_partition" and not plan.fill_partition
    )


def direct_mode_sql(dialect: Dialect, plan: LoadPlan, partition_value: Any = None) -> list[Statement]:
    """What runs before a ``COPY`` straight into the target: empty the table or the partition."""
    if plan.mode == "truncate_insert":
        return [(dialect.truncate_sql(plan.target), ())]
    if plan.mode == "replace_partition":
        column = quote_identifier(plan.partition_column, "partition_column")
        return [(f"DELETE FROM {plan.target} WHERE {column} = %s", (partition_value,))]
    return []


#: what a row outside the partition makes a guarded COPY fail with (then the batch is counted exactly).
PARTITION_GUARD = "sales_load: row outside the partition"


def partition_guard_sql(plan: LoadPlan, partition_value: Any) -> str | None:
    """``WHERE`` clause failing a ``COPY`` into the target at the first row outside the partition.

    COPY takes no bound parameters, so the value is inlined as a literal by :func:`inline_params`; a
    value no literal can carry safely gives ``None`` (the load then stages and checks the batch). The
    failing branch refers to the row, so the planner cannot fold it into a constant error.
    """
    column = quote_identifier(plan.partition_column, "partition_column")
    try:
        literal = inline_params("%s", (partition_value,))
    except (LoadConfigError, ValueError):
        return None
    marker = copy_literal(PARTITION_GUARD + ": ", "marker")
    return (
        f"WHERE CASE WHEN {column} = {literal} THEN true "
        f"ELSE ({marker} || coalesce({column}::text, 'NULL'))::integer = 0 END"
    )


def partition_violations_sql(plan: LoadPlan, partition_value: Any) -> Statement:
    """Count staged rows outside the partition being replaced (they would survive the next replace)."""
    column = quote_identifier(plan.partition_column, "partition_column")
    stage = quote_identifier(STAGE_TABLE)
    return (f"SELECT count(*) FROM {stage} WHERE {column} <> %s OR {column} IS NULL", (partition_value,))


def mode_sql(dialect: Dialect, plan: LoadPlan, partition_value: Any = None) -> list[Statement]:
    """Move the staged rows into the target according to ``plan.mode`` (run in the load's transaction)."""
    stage = quote_identifier(STAGE_TABLE)
    target = plan.target
    cols = plan.column_list()
    if plan.mode == "append":
        return [(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage}", ())]
    if plan.mode == "truncate_insert":
        return [
            (dialect.truncate_sql(target), ()),
            (f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage}", ()),
        ]
    if plan.mode == "replace_partition":
        column = quote_identifier(plan.partition_column, "partition_column")
        delete: Statement = (f"DELETE FROM {target} WHERE {column} = %s", (partition_value,))
        insert: Statement
        if plan.fill_partition:
            insert = (
                f"INSERT INTO {target} ({cols}, {column}) SELECT {cols}, %s FROM {stage}",
                (partition_value,),
            )
        else:
            insert = (f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage}", ())
        return [delete, insert]
    return _upsert_sql(dialect, plan)


def _order_clause(dialect: Dialect, plan: LoadPlan) -> str:
    items = []
    for item in plan.order_by:
        match = _ORDER_ITEM.match(item)
        assert match is not None  # validated in LoadPlan
        direction = (match.group(2) or "DESC").upper()
        items.append(f"{quote_identifier(match.group(1), 'order_by')} {direction}")
    if not items:
        if not dialect.load_sequence_column_sql:
            raise LoadConfigError(
                f"mode='upsert' on {dialect.name} needs order_by to choose the latest row of a "
                "duplicated key: "
                "COPY loads files in parallel, so file order cannot decide"
            )
        items.append(f"{quote_identifier(SEQ_COLUMN)} DESC")
    return ", ".join(items)


def dedup_select_sql(dialect: Dialect, plan: LoadPlan) -> str:
    """The staged batch with one row per upsert key: the latest by ``order_by`` (or by load order)."""
    cols = plan.column_list()
    keys = ", ".join(quote_identifier(k, "upsert_keys") for k in plan.upsert_keys)
    rank = quote_identifier(RANK_COLUMN)
    return (
        f"SELECT {cols} FROM (SELECT {cols}, ROW_NUMBER() OVER (PARTITION BY {keys} "
        f"ORDER BY {_order_clause(dialect, plan)}) AS {rank} FROM {quote_identifier(STAGE_TABLE)}) "
        f"AS {quote_identifier('_sales_ranked')} WHERE {rank} = 1"
    )


def _upsert_sql(dialect: Dialect, plan: LoadPlan) -> list[Statement]:
    target = plan.target
    cols = plan.column_list()
    batch = quote_identifier(BATCH_TABLE)
    dedup = dedup_select_sql(dialect, plan)
    non_keys = [c for c in plan.columns if c not in plan.upsert_keys]
    if dialect.supports_merge and non_keys:
        src = quote_identifier("src")
        on = " AND ".join(
            f"{target}.{quote_identifier(k)} = {src}.{quote_identifier(k)}" for k in plan.upsert_keys
        )
        sets = ", ".join(f"{quote_identifier(c)} = {src}.{quote_identifier(c)}" for c in non_keys)
        return [
            (f"CREATE TEMP TABLE {batch} AS {dedup}", ()),
            (
                f"MERGE INTO {target} USING {batch} AS {src} ON {on} "
                f"WHEN MATCHED THEN UPDATE SET {sets} "
                f"WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({plan.column_list(prefix=src + '.')})",
                (),
            ),
        ]
    stage = quote_identifier(STAGE_TABLE)
    on = " AND ".join(
        f"{target}.{quote_identifier(k)} = {stage}.{quote_identifier(k)}" for k in plan.upsert_keys
    )
    return [
        (f"DELETE FROM {target} USING {stage} WHERE {on}", ()),
        (f"INSERT INTO {target} ({cols}) {dedup}", ()),
    ]


def duplicate_keys_sql(plan: LoadPlan) -> str:
    """Whether the staged batch holds an upsert key more than once (one row: ``true`` / ``false``)."""
    keys = ", ".join(quote_identifier(k, "upsert_keys") for k in plan.upsert_keys)
    return (
        f"SELECT EXISTS (SELECT 1 FROM {quote_identifier(STAGE_TABLE)} GROUP BY {keys} HAVING count(*) > 1)"
    )


def unique_upsert_sql(plan: LoadPlan) -> list[Statement]:
    """``upsert`` of a batch without duplicate keys (:func:`duplicate_keys_sql`): nothing to rank, no sort.

    The same rows as :func:`mode_sql`'s ``DELETE … USING`` + ranked ``INSERT``, which keeps every row
    when no key repeats.
    """
    target, stage, cols = plan.target, quote_identifier(STAGE_TABLE), plan.column_list()
    on = " AND ".join(
        f"{target}.{quote_identifier(k)} = {stage}.{quote_identifier(k)}" for k in plan.upsert_keys
    )
    return [
        (f"DELETE FROM {target} USING {stage} WHERE {on}", ()),
        (f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage}", ()),
    ]


# -- metadata --------------------------------------------------------------------------------------------
def table_columns_sql(schema: str | None, table: str) -> Statement:
    """Columns of the target in order, each with whether it is NOT NULL and whether it has a default."""
    sql = (
        "SELECT column_name, CASE WHEN is_nullable = 'NO' THEN 1 ELSE 0 END, "
        "CASE WHEN column_default IS NULL THEN 0 ELSE 1 END "
        "FROM information_schema.columns WHERE table_name = %s AND table_schema = "
        + ("%s" if schema else "current_schema()")
        + " ORDER BY ordinal_position"
    )
    return sql, ((table, schema) if schema else (table,))
