"""The data-quality audit table: one row per check per run, read back by ``change`` checks.

Columns: ``dag_id, task_id, run_id, table_name, partition_value, check_name, check_type, severity,
value, observed, passed, checked_at``. A retry of the same task in the same run replaces its rows
(delete + insert in one transaction), so history never holds duplicates.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.checks.compiler import Query
from airflow_sales_provider.checks.results import json_safe
from airflow_sales_provider.sql.identifiers import parse_qualified, quote_qualified

if TYPE_CHECKING:
    import datetime
    from collections.abc import Sequence

    from airflow_sales_provider.checks.results import CheckResult

DEFAULT_HISTORY_TABLE = "data_quality_history"
_COLUMNS = (
    "dag_id",
    "task_id",
    "run_id",
    "table_name",
    "partition_value",
    "check_name",
    "check_type",
    "severity",
    "value",
    "observed",
    "passed",
    "checked_at",
)


def history_table(history: object) -> str | None:
    """The quoted history table for the operator's ``history`` argument (``True`` = the default name)."""
    if history is None or history is False or history == "":
        return None
    if history is True:
        return quote_qualified(DEFAULT_HISTORY_TABLE, what="history table")
    schema, table = parse_qualified(history, "history table")
    return quote_qualified(schema, table, what="history table")


def create_sql(table: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for the audit table (portable PostgreSQL / Redshift types)."""
    return (
        f"CREATE TABLE IF NOT EXISTS {table} ("
        "dag_id VARCHAR(250) NOT NULL, task_id VARCHAR(250) NOT NULL, run_id VARCHAR(250) NOT NULL, "
        "table_name VARCHAR(256) NOT NULL, partition_value VARCHAR(256), check_name VARCHAR(256) NOT NULL, "
        "check_type VARCHAR(32) NOT NULL, severity VARCHAR(8) NOT NULL, value DOUBLE PRECISION, "
        "observed VARCHAR(1024), passed BOOLEAN NOT NULL, checked_at TIMESTAMP NOT NULL)"
    )


def baseline_query(
    table: str,
    table_name: str,
    check_names: Sequence[str],
    lookback: int,
    *,
    run_id: str,
    partition_value: str | None,
) -> Query:
    """The last ``lookback`` passing values of each ``change`` check, newest first.

    Rows of this run (a retry) and of the same partition (a re-run of that day) are not a baseline.
    """
    parameters: dict[str, Any] = {"table_name": table_name, "run_id": run_id, "lookback": lookback}
    names = []
    for i, name in enumerate(check_names):
        parameters[f"check_{i}"] = name
        names.append(f"%(check_{i})s")
    conditions = [
        "table_name = %(table_name)s",
        f"check_name IN ({', '.join(names)})",
        "passed",
        "value IS NOT NULL",
        "run_id <> %(run_id)s",
    ]
    if partition_value is not None:
        parameters["partition_value"] = partition_value
        conditions.append("(partition_value IS NULL OR partition_value <> %(partition_value)s)")
    sql = (
        "SELECT check_name, value FROM ("
        "SELECT check_name, value, "
        "row_number() OVER (PARTITION BY check_name ORDER BY checked_at DESC) AS rn "
        f"FROM {table} WHERE {' AND '.join(conditions)}"
        ") AS recent WHERE rn <= %(lookback)s ORDER BY check_name, rn"
    )
    return Query("history", sql, parameters)


def record_queries(
    table: str,
    results: Sequence[CheckResult],
    *,
    dag_id: str,
    task_id: str,
    run_id: str,
    table_name: str,
    partition_value: str | None,
    checked_at: datetime.datetime,
) -> list[Query]:
    """Delete this task's rows for this run, then insert one row per result (run in one transaction)."""
    key = {"dag_id": dag_id, "task_id": task_id, "run_id": run_id, "table_name": table_name}
    delete = Query(
        "history",
        f"DELETE FROM {table} WHERE dag_id = %(dag_id)s AND task_id = %(task_id)s "
        "AND run_id = %(run_id)s AND table_name = %(table_name)s",
        key,
    )
    parameters: dict[str, Any] = dict(key)
    parameters["partition_value"] = partition_value
    parameters["checked_at"] = checked_at.replace(tzinfo=None)
    rows = []
    for i, result in enumerate(results):
        parameters.update(
            {
                f"name_{i}": result.name,
                f"type_{i}": result.check,
                f"severity_{i}": result.severity,
                f"value_{i}": result.value,
                f"observed_{i}": json.dumps(json_safe(result.observed), default=str)[:1024],
                f"passed_{i}": result.passed,
            }
        )
        rows.append(
            "(%(dag_id)s, %(task_id)s, %(run_id)s, %(table_name)s, %(partition_value)s, "
            f"%(name_{i})s, %(type_{i})s, %(severity_{i})s, %(value_{i})s, %(observed_{i})s, "
            f"%(passed_{i})s, %(checked_at)s)"
        )
    insert = Query(
        "history",
        f"INSERT INTO {table} ({', '.join(_COLUMNS)}) VALUES\n" + ",\n".join(rows),
        parameters,
    )
    return [delete, insert]
