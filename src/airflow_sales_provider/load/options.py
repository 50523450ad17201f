"""The loader's options, checked once: every configuration mistake is found here, before any I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_sales_provider.ledger import ledger_identifier
from airflow_sales_provider.load.plan import LoadJob
from airflow_sales_provider.load.redshift import DATA_API_TARGET_KEYS
from airflow_sales_provider.sql.identifiers import validate_identifier
from airflow_sales_provider.sql.load import COMPRESSIONS, MODES, FormatOptions, LoadConfigError

METHODS = ("sql", "data_api")


def name_list(value: Any, what: str) -> tuple[str, ...]:
    """A list parameter given one name (``order_by="updated_at"``) is a one-element list."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise LoadConfigError(f"{what} must be a list of column names (or one name), got {value!r}")


def load_job(
    *,
    table: str,
    schema: str | None,
    columns: Any,
    mode: str,
    method: str,
    format: FormatOptions,
    compression: str,
    partition_column: str | None,
    partition_value: Any,
    upsert_keys: Any,
    order_by: Any,
    ledger_table: str | None,
    force_reload: bool = False,
    allow_empty: bool = True,
    allow_missing_columns: bool = False,
    region: str | None = None,
    data_api_kwargs: Mapping[str, Any] | None = None,
) -> LoadJob:
    """The rendered options as a :class:`LoadJob`; raises ``LoadConfigError`` / ``InvalidIdentifierError``.

    :param ledger_table: the ledger, ``table`` or ``schema.table``; ``None`` when the ledger is off.
    """
    if mode not in MODES:
        raise LoadConfigError(f"mode {mode!r} is not supported: use one of {', '.join(MODES)}")
    if method not in METHODS:
        raise LoadConfigError(f"method {method!r} is not supported: use one of {', '.join(METHODS)}")
    if compression not in COMPRESSIONS:
        raise LoadConfigError(f"compression {compression!r}: use one of {', '.join(COMPRESSIONS)}")
    validate_identifier(table, "table")
    if schema:
        validate_identifier(schema, "schema")
    column_names = name_list(columns, "columns")
    for column in column_names:
        validate_identifier(column, "column")
    if mode == "replace_partition":
        if not partition_column or partition_value in (None, ""):
            raise LoadConfigError("mode='replace_partition' needs partition_column and partition_value")
        validate_identifier(partition_column, "partition_column")
    keys = name_list(upsert_keys, "upsert_keys")
    if mode == "upsert" and not keys:
        raise LoadConfigError("mode='upsert' needs upsert_keys (the columns that identify a row)")
    if method == "data_api":
        check_data_api_kwargs(data_api_kwargs, column_names)
    return LoadJob(
        table=table,
        schema=schema or None,
        columns=column_names or None,
        mode=mode,
        format=format.validate(),
        compression=compression,
        partition_column=partition_column,
        partition_value=partition_value,
        upsert_keys=keys,
        order_by=name_list(order_by, "order_by"),
        ledger=ledger_identifier(ledger_table, schema) if ledger_table else None,
        force_reload=bool(force_reload),
        allow_empty=bool(allow_empty),
        allow_missing_columns=bool(allow_missing_columns),
        region=region,
    )


def check_data_api_kwargs(kwargs: Mapping[str, Any] | None, columns: tuple[str, ...]) -> None:
    """``method="data_api"`` names its cluster or workgroup, and the columns (it does not read the table)."""
    kwargs = kwargs or {}
    if not isinstance(kwargs, Mapping):
        raise LoadConfigError(f"data_api_kwargs must be a dict, got {type(kwargs).__name__}")
    if not kwargs.get("database") or not (kwargs.get("cluster_identifier") or kwargs.get("workgroup_name")):
        raise LoadConfigError(
            "method='data_api' needs data_api_kwargs with 'database' and 'cluster_identifier' "
            "or 'workgroup_name'"
        )
    unknown = set(kwargs) - set(DATA_API_TARGET_KEYS)
    if unknown:
        raise LoadConfigError(f"data_api_kwargs has unknown keys {sorted(unknown)}")
    if not columns:
        raise LoadConfigError("method='data_api' needs columns (the Data API path does not read the table)")


#: the loader's format parameters, named as :class:`FormatOptions` fields (and the operator's arguments).
FORMAT_OPTIONS = ("format", "delimiter", "quote", "null_string", "date_format", "time_format", "json_paths")


def job_from_options(options: Any) -> LoadJob:
    """:func:`load_job` from an object carrying the loader's rendered parameters as attributes.

    ``options`` is the :class:`~airflow_sales_provider.operators.redshift_load.RedshiftLoadOperator`
    itself: one mapping from its parameters to the job, not a second list of them in the operator.
    """
    fmt = FormatOptions(
        header=bool(options.header), gzip=False, **{n: getattr(options, n) for n in FORMAT_OPTIONS}
    )
    return load_job(
        table=options.table,
        schema=options.schema,
        columns=options.columns,
        mode=options.mode,
        method=options.method,
        format=fmt,
        compression=options.compression,
        partition_column=options.partition_column,
        partition_value=options.partition_value,
        upsert_keys=options.upsert_keys,
        order_by=options.order_by,
        ledger_table=options.ledger_table if options.ledger else None,
        force_reload=options.force_reload,
        allow_empty=options.allow_empty,
        allow_missing_columns=options.allow_missing_columns,
        region=options.region,
        data_api_kwargs=options.data_api_kwargs,
    )
