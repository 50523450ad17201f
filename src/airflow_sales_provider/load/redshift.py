"""The Redshift load as pure logic: its statement list, its manifest, and how Redshift's answers read.

One list of statements serves both Redshift paths: a SQL connection runs it in one transaction, the
Data API submits it as one ``BatchExecuteStatement`` (also one transaction).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from airflow_sales_provider.ledger import (
    create_table_sql,
    forget_target_sql,
    insert_from_copy_sql,
    insert_sql,
)
from airflow_sales_provider.objects import split_s3_uri
from airflow_sales_provider.sql.load import create_stage_sql, drop_stage_sql, mode_sql, redshift_copy_sql

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_sales_provider.load.plan import LoadJob, RunInfo
    from airflow_sales_provider.objects import S3Object
    from airflow_sales_provider.sql.dialects import Dialect
    from airflow_sales_provider.sql.load import LoadPlan, Statement

#: Data API statement states that mean "still running" (one definition for the operator and trigger).
RUNNING_STATES = ("SUBMITTED", "PICKED", "STARTED")
FINISHED_STATE = "FINISHED"
#: ``data_api_kwargs`` keys and the ``BatchExecuteStatement`` arguments they become.
DATA_API_TARGET_KEYS = {
    "database": "Database",
    "cluster_identifier": "ClusterIdentifier",
    "workgroup_name": "WorkgroupName",
    "db_user": "DbUser",
    "secret_arn": "SecretArn",
}


class RejectedRow(NamedTuple):
    """One row of ``stl_load_errors`` as :func:`~airflow_sales_provider.sql.load.redshift_load_errors_sql`
    selects it."""

    filename: Any
    line_number: Any
    colname: Any
    err_reason: Any
    raw_field_value: Any

    @classmethod
    def of(cls, row: Sequence[Any]) -> RejectedRow:
        return cls(*(list(row) + [None] * 5)[:5])


def redshift_statements(
    job: LoadJob,
    dialect: Dialect,
    plan: LoadPlan,
    bucket: str,
    to_load: Sequence[S3Object],
    empty: Sequence[str],
    manifest_uri: str | None,
    run: RunInfo,
    *,
    gzip: bool,
    lock: bool = True,
) -> list[Statement]:
    """Every statement of the Redshift load, in transaction order (exact SQL, tested as strings)."""
    statements: list[Statement] = []
    if job.ledger and lock:
        statements.append((create_table_sql(job.ledger), ()))
        statements.append(dialect.load_lock_sql(job.ledger, plan.target_name))
    statements += create_stage_sql(dialect, plan)
    if manifest_uri:
        copy = redshift_copy_sql(
            plan,
            job.options(gzip),
            manifest_uri=manifest_uri,
            iam_role_arn=job.iam_role_arn or "",
            region=job.region,
        )
        statements.append((copy, ()))
    statements += mode_sql(dialect, plan, job.partition_value)
    if job.ledger:
        keys = [o.key for o in to_load]
        statements += [(s, tuple(p)) for s, p in forget_target_sql(job.ledger, job.target_name, bucket, keys)]
        for entry in job.ledger_entries(bucket, to_load, {}, run):
            if entry.s3_key in empty:
                statements.append((insert_sql(job.ledger), entry.as_row()))
            else:
                uri = f"s3://{bucket}/{entry.s3_key}"
                statements.append((insert_from_copy_sql(job.ledger), entry.as_copy_commit_row(uri)))
    statements += drop_stage_sql()
    return statements


def mode_statement_index(
    statements: Sequence[Statement], dialect: Dialect, plan: LoadPlan, value: Any
) -> int:
    """Index (in the batch) of the statement whose row count is the number of rows loaded."""
    last_mode_sql = mode_sql(dialect, plan, value)[-1][0]
    indexes = [i for i, (sql, _) in enumerate(statements) if sql == last_mode_sql]
    return indexes[-1] if indexes else -1


def manifest_body(bucket: str, objects: Sequence[S3Object]) -> dict[str, Any]:
    """A COPY manifest naming exactly these objects (``mandatory``: a missing file fails the COPY)."""
    return {
        "entries": [
            {"url": f"s3://{bucket}/{o.key}", "mandatory": True, "meta": {"content_length": o.size}}
            for o in objects
        ]
    }


def data_api_target(kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """``BatchExecuteStatement`` arguments naming the cluster or workgroup from ``data_api_kwargs``."""
    return {
        DATA_API_TARGET_KEYS[k]: v
        for k, v in (kwargs or {}).items()
        if v is not None and k in DATA_API_TARGET_KEYS
    }


def ledger_records(records: Sequence[Sequence[Mapping[str, Any]]]) -> set[tuple[str, str]]:
    """``(s3_key, etag)`` pairs from Data API ``GetStatementResult`` records (string fields only)."""
    pairs = set()
    for record in records:
        if len(record) >= 2 and "stringValue" in record[0] and "stringValue" in record[1]:
            pairs.add((record[0]["stringValue"], record[1]["stringValue"]))
    return pairs


def statement_result_rows(description: Mapping[str, Any]) -> list[int]:
    """``ResultRows`` of each sub-statement of a batch (``-1`` where Redshift reports none)."""
    subs = description.get("SubStatements") or []
    return [int(s.get("ResultRows", -1)) for s in subs]


def statement_event(statement_id: str, description: Mapping[str, Any]) -> dict[str, Any]:
    """The event a finished statement ends the wait with (the trigger's and the synchronous wait's)."""
    state = description["Status"]
    if state == FINISHED_STATE:
        return {
            "status": "success",
            "statement_id": statement_id,
            "result_rows": statement_result_rows(description),
        }
    return {
        "status": "error",
        "statement_id": statement_id,
        "state": state,
        "message": str(description.get("Error") or f"statement ended as {state}"),
    }


def rows_loaded(meta: Mapping[str, Any], result_rows: Sequence[int]) -> int | None:
    """The row count of the batch's mode statement, if Redshift reported one."""
    index = meta.get("mode_statement")
    if isinstance(index, int) and 0 <= index < len(result_rows) and result_rows[index] >= 0:
        return int(result_rows[index])
    rows = meta.get("rows_loaded")
    return int(rows) if isinstance(rows, int) else None


def translate_load_errors(target: str, exc: BaseException, rejected: Sequence[Sequence[Any]]) -> str:
    """A load failure message naming the file, line and column from Redshift's ``stl_load_errors`` rows."""
    if rejected:
        row = RejectedRow.of(rejected[0])
        return (
            f"bad row in {str(row.filename).strip()} at line {row.line_number}, column "
            f"{str(row.colname).strip()}: {str(row.err_reason).strip()} (value "
            f"{str(row.raw_field_value).strip()!r}). The load was rolled back: {target} and the ledger are "
            f"unchanged ({len(rejected)} rejected row(s) listed in stl_load_errors)."
        )
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"load into {target} failed: {first}. The transaction was rolled back; nothing was loaded."


def manifest_base(manifest_prefix: str | None, bucket: str) -> str:
    """``s3://bucket/prefix/`` for manifests and statement markers (default ``s3://<bucket>/_sales_load/``)."""
    base = manifest_prefix or f"s3://{bucket}/_sales_load/"
    split_s3_uri(base if "/" in base[5:] else base + "/")
    return base if base.endswith("/") else base + "/"


def data_api_failure(meta: Mapping[str, Any], event: Mapping[str, Any]) -> str:
    """Why a Data API load failed, from its trigger (or wait) event."""
    return (
        f"Redshift Data API load into {meta['table']} failed (statement {event['statement_id']}, "
        f"{event.get('state')}): {event.get('message')}. The transaction was rolled back; the table "
        "and the ledger are unchanged. Rejected rows are listed in sys_load_error_detail/stl_load_errors."
    )
