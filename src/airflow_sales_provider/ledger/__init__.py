"""The load ledger: which S3 objects were loaded into which table, written with the data it describes.

Pure SQL building (no Airflow, no connection): the loader writes ledger rows in the same transaction
as the rows it loads, and the arrival sensor and the loader read it to skip objects already loaded.
An object is identified by bucket, key and ETag: a re-uploaded file with new content is a new object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.objects import normalise_etag
from airflow_sales_provider.sql.identifiers import parse_qualified, quote_qualified

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

__all__ = [
    "COLUMNS",
    "COPY_COMMIT_COLUMNS",
    "DEFAULT_LEDGER_TABLE",
    "LedgerEntry",
    "create_table_sql",
    "delete_for_reload_sql",
    "forget_target_sql",
    "insert_from_copy_sql",
    "insert_sql",
    "ledger_identifier",
    "loaded_objects_sql",
    "normalise_etag",
]

DEFAULT_LEDGER_TABLE = "sales_load_ledger"

COLUMNS = (
    "target_table",
    "bucket",
    "s3_key",
    "etag",
    "size_bytes",
    "row_count",
    "dag_id",
    "run_id",
    "try_number",
    "loaded_at",
)

#: the columns :func:`insert_from_copy_sql` binds (Redshift counts the rows and stamps the time itself).
COPY_COMMIT_COLUMNS = tuple(c for c in COLUMNS if c not in ("row_count", "loaded_at"))


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger row: this object (bucket, key, ETag) was loaded into ``target_table`` by this run."""

    target_table: str
    bucket: str
    s3_key: str
    etag: str | None
    size_bytes: int | None
    row_count: int
    dag_id: str | None
    run_id: str | None
    try_number: int | None
    loaded_at: datetime

    def as_row(self) -> tuple[Any, ...]:
        """Parameters of :func:`insert_sql`."""
        return tuple(getattr(self, c) for c in COLUMNS)

    def as_copy_commit_row(self, uri: str) -> tuple[Any, ...]:
        """Parameters of :func:`insert_from_copy_sql`: the row without the counts Redshift fills in."""
        return (*(getattr(self, c) for c in COPY_COMMIT_COLUMNS), uri)


def ledger_identifier(ledger_table: str = DEFAULT_LEDGER_TABLE, default_schema: str | None = None) -> str:
    """The quoted ``schema.table`` of the ledger (``ledger_table`` may be ``table`` or ``schema.table``)."""
    schema, table = parse_qualified(ledger_table, "ledger_table")
    return quote_qualified(schema or default_schema, table, what="ledger_table")


def create_table_sql(ledger: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for the (already quoted) ledger identifier."""
    return (
        f"CREATE TABLE IF NOT EXISTS {ledger} ("
        "target_table VARCHAR(512) NOT NULL, "
        "bucket VARCHAR(255) NOT NULL, "
        "s3_key VARCHAR(1024) NOT NULL, "
        "etag VARCHAR(128) NOT NULL, "
        "size_bytes BIGINT NOT NULL, "
        "row_count BIGINT NOT NULL, "
        "dag_id VARCHAR(250), "
        "run_id VARCHAR(250), "
        "try_number INTEGER, "
        "loaded_at TIMESTAMP NOT NULL, "
        "PRIMARY KEY (target_table, bucket, s3_key, etag))"
    )


def loaded_objects_sql(ledger: str, target_table: str, bucket: str) -> tuple[str, tuple[Any, ...]]:
    """Query for ``(s3_key, etag)`` of every object already loaded into ``target_table`` from ``bucket``.

    Keys are filtered in Python by the caller: binding one parameter per key would not scale to the
    thousands of keys a backfill can list, and ``= ANY(array)`` is not portable to Redshift.
    """
    sql = f"SELECT s3_key, etag FROM {ledger} WHERE target_table = %s AND bucket = %s"
    return sql, (target_table, bucket)


def insert_sql(ledger: str) -> str:
    placeholders = ", ".join(["%s"] * len(COLUMNS))
    return f"INSERT INTO {ledger} ({', '.join(COLUMNS)}) VALUES ({placeholders})"


def delete_for_reload_sql(
    ledger: str, target_table: str, keys: Sequence[str], bucket: str
) -> tuple[str, list[Any]]:
    """Forget ledger rows of ``keys`` for ``target_table`` (``force_reload``), in the load's transaction."""
    placeholders = ", ".join(["%s"] * len(keys))
    sql = f"DELETE FROM {ledger} WHERE target_table = %s AND bucket = %s AND s3_key IN ({placeholders})"
    return sql, [target_table, bucket, *keys]


def insert_from_copy_sql(ledger: str) -> str:
    """Redshift: a ledger row whose ``row_count`` is read from the COPY's own per-file bookkeeping.

    Parameters as :func:`insert_sql` but without ``row_count`` and ``loaded_at``, then the file's
    ``s3://`` URI, which ``stl_load_commits`` names (space-padded) for each file of the last COPY.
    """
    values = ", ".join(["%s"] * len(COPY_COMMIT_COLUMNS))
    return (
        f"INSERT INTO {ledger} ({', '.join(COPY_COMMIT_COLUMNS)}, row_count, loaded_at) "
        f"SELECT {values}, COALESCE(SUM(lines_scanned), 0), GETDATE() FROM stl_load_commits "
        "WHERE query = pg_last_copy_id() AND TRIM(filename) = %s"
    )


def forget_target_sql(
    ledger: str, target_table: str, bucket: str, keys: Sequence[str]
) -> list[tuple[str, list[Any]]]:
    """:func:`delete_for_reload_sql` in chunks of at most 500 keys (bounded statement size)."""
    return [
        delete_for_reload_sql(ledger, target_table, list(keys[i : i + 500]), bucket)
        for i in range(0, len(keys), 500)
    ]
