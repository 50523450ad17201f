"""Warehouse dialects as small classes of flags and overrides (as sqlglot does), not ``if`` chains.

Operators ask :func:`dialect_for_conn_type` for the dialect of their connection and then only read
flags and call methods here. Add a flag when a new difference appears; keep the branching in here.
"""

from __future__ import annotations

from typing import ClassVar


class Dialect:
    """What PostgreSQL and Redshift share; subclasses override what differs."""

    name: ClassVar[str] = "postgres"
    #: ``COPY ... FROM 's3://...' IAM_ROLE ...`` (Redshift) vs ``COPY ... FROM STDIN`` streamed by us.
    copy_from_s3: ClassVar[bool] = False
    supports_parquet: ClassVar[bool] = False
    supports_merge: ClassVar[bool] = False
    #: ``count(DISTINCT x)`` is exact on both; Redshift also has APPROXIMATE COUNT(DISTINCT).
    approximate_count_distinct: ClassVar[str | None] = None
    #: temp tables: PostgreSQL can ``ON COMMIT DROP``; Redshift drops them at session end.
    temp_table_suffix: ClassVar[str] = " ON COMMIT DROP"
    now_sql: ClassVar[str] = "now()"
    epoch_seconds_sql: ClassVar[str] = "extract(epoch from {expr})"
    #: data-quality checks: seconds from a timestamp/date expression to now (freshness).
    age_seconds_sql: ClassVar[str] = "extract(epoch from (now() - {expr}))"
    #: DB-API paramstyle of the usual driver (psycopg2: pyformat; redshift_connector: format).
    paramstyle: ClassVar[str] = "pyformat"
    #: data-quality ``unique`` checks: a catalog query for the table's enforced unique keys, or ``None``.
    unique_keys_sql: ClassVar[str | None] = None
    #: data-quality ``unique`` on a composite key: one 64-bit hash of the key's columns (``{columns}``),
    #: whose distinct count proves a clean key unique with one cheap sort; ``None``: count the key itself.
    key_hash_sql: ClassVar[str | None] = None
    #: ``CREATE TEMP TABLE s (LIKE t<like_defaults>)``: keep column defaults in the staging table.
    like_defaults: ClassVar[str] = " INCLUDING DEFAULTS"
    #: an extra staging column recording load order (the "latest" row of an upsert without order_by);
    #: empty where COPY loads in parallel and the order means nothing.
    load_sequence_column_sql: ClassVar[str] = "BIGINT GENERATED ALWAYS AS IDENTITY"
    #: run in the load's transaction before the staging table exists (``SET LOCAL``: ends with it).
    session_setup_sql: ClassVar[tuple[str, ...]] = ()
    #: ``TRUNCATE`` is transactional (PostgreSQL) or commits at once (Redshift, so DELETE is used there).
    transactional_truncate: ClassVar[bool] = True

    def truncate_sql(self, quoted_table: str) -> str:
        """Empty a table inside the load's transaction."""
        if self.transactional_truncate:
            return f"TRUNCATE {quoted_table}"
        return f"DELETE FROM {quoted_table}"

    def load_lock_sql(self, quoted_ledger: str, target_name: str) -> tuple[str, tuple[str, ...]]:
        """Serialise loads into one target for the rest of the transaction (overlapping runs wait)."""
        return "SELECT pg_advisory_xact_lock(hashtext(%s))", ("airflow_sales_provider.load:" + target_name,)


class PostgresDialect(Dialect):
    name = "postgres"
    # The staging table is a temp table: give it local buffers (the default 8 MB spills to disk at once),
    # and the upsert's key checks and ranking memory to hash and sort in (the default 4 MB spills).
    session_setup_sql = ("SET LOCAL temp_buffers = '256MB'", "SET LOCAL work_mem = '128MB'")
    supports_merge = False  # MERGE exists from PG 15, but not on the older servers RDS still runs
    #: data-quality ``unique`` checks: the table's enforced unique keys (one text[] of column names per
    #: valid, non-partial, non-expression unique index or constraint) for the table named by the bound
    #: ``%(table)s``; a key covered by one needs no scan. ``None`` where constraints are not enforced.
    unique_keys_sql = (
        "SELECT array_agg(a.attname::text ORDER BY k.ord) FROM pg_index i "
        "CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE i.indrelid = to_regclass(%(table)s) AND i.indisunique AND i.indisvalid "
        "AND i.indpred IS NULL AND i.indexprs IS NULL GROUP BY i.indexrelid"
    )
    key_hash_sql = "hash_record_extended(ROW({columns}), 0)"  # PostgreSQL 14+


class RedshiftDialect(Dialect):
    name = "redshift"
    copy_from_s3 = True
    supports_parquet = True
    supports_merge = True
    approximate_count_distinct = "APPROXIMATE COUNT(DISTINCT {expr})"
    temp_table_suffix = ""
    now_sql = "getdate()"
    epoch_seconds_sql = "extract(epoch from {expr})"
    age_seconds_sql = "datediff(second, {expr}, getdate())"
    paramstyle = "format"
    like_defaults = ""
    load_sequence_column_sql = ""
    transactional_truncate = False

    def load_lock_sql(self, quoted_ledger: str, target_name: str) -> tuple[str, tuple[str, ...]]:
        # No advisory locks on Redshift: the ledger table's own lock serialises loads.
        return f"LOCK {quoted_ledger}", ()


class AthenaDialect(Dialect):
    """Athena (Trino) for read-only data-quality checks through the amazon provider's AthenaSQLHook."""

    name = "athena"
    now_sql = "current_timestamp"
    age_seconds_sql = "date_diff('second', CAST({expr} AS timestamp), localtimestamp)"
    temp_table_suffix = ""


_BY_CONN_TYPE: dict[str, type[Dialect]] = {
    "postgres": PostgresDialect,
    "postgresql": PostgresDialect,
    "redshift": RedshiftDialect,
}


def dialect_for_conn_type(conn_type: str | None) -> Dialect:
    """The dialect for an Airflow connection type; unknown types are an error naming the supported ones."""
    try:
        return _BY_CONN_TYPE[(conn_type or "").lower()]()
    except KeyError:
        supported = ", ".join(sorted(_BY_CONN_TYPE))
        raise ValueError(
            f"connection type {conn_type!r} is not a supported warehouse (use one of: {supported})"
        ) from None


#: Connections the (read-only) data-quality checks also run on, besides the warehouses.
_CHECKS_BY_CONN_TYPE: dict[str, type[Dialect]] = {**_BY_CONN_TYPE, "athena": AthenaDialect}


def dialect_for_checks(conn_type: str | None) -> Dialect:
    """The dialect data-quality checks use for a connection type; other SQL databases get plain SQL."""
    return _CHECKS_BY_CONN_TYPE.get((conn_type or "").lower(), Dialect)()
