"""What one load does, decided from what was read: pure functions over a :class:`LoadJob`.

:class:`~airflow_sales_provider.hooks.redshift_load.WarehouseLoadHook` reads (listings, probes, the
ledger, the table's columns) and acts; this module decides. Nothing here imports Airflow or opens a
connection, so every rule is tested without either.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

from airflow_sales_provider.ledger import LedgerEntry
from airflow_sales_provider.sql.identifiers import InvalidIdentifierError
from airflow_sales_provider.sql.load import FormatOptions, LoadConfigError, LoadPlan

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    from airflow_sales_provider.objects import Probe, S3Object

#: PostgreSQL DateStyle for each ``date_format`` it can read (``None``: its ISO default).
POSTGRES_DATE_STYLES: dict[str | None, str | None] = {
    None: None,
    "auto": None,
    "YYYY-MM-DD": None,
    "MM/DD/YYYY": "ISO, MDY",
    "DD/MM/YYYY": "ISO, DMY",
}
_UNSAFE_PATH = re.compile(r"[^A-Za-z0-9_.=+-]")


class LoadDataError(ValueError):
    """The files cannot be loaded as they are (schema drift, not gzip, empty); names the object."""


class TableColumn(NamedTuple):
    """A column of the target table as ``information_schema`` describes it."""

    name: str
    not_null: bool
    has_default: bool

    @property
    def required(self) -> bool:
        """A file must give it even with ``allow_missing_columns`` (NOT NULL and no default)."""
        return self.not_null and not self.has_default


class Selection(NamedTuple):
    """Objects to load now, and objects skipped because the ledger holds them."""

    to_load: list[S3Object]
    skipped: list[S3Object]


class RunInfo(NamedTuple):
    """Which task try loads: written into the ledger and into manifest / marker names."""

    dag_id: str | None
    run_id: str | None
    try_number: int | None
    task_id: str
    map_index: int = -1

    @classmethod
    def of(cls, ti: Any, run_id: str | None, task_id: str, dag_id: str | None = None) -> RunInfo:
        """From the task instance of a task's context (its ``run_id`` as the context gives it)."""
        map_index = getattr(ti, "map_index", -1)
        return cls(
            dag_id=getattr(ti, "dag_id", None) or dag_id,
            run_id=run_id or getattr(ti, "run_id", None),
            try_number=getattr(ti, "try_number", None),
            task_id=task_id,
            map_index=map_index if isinstance(map_index, int) else -1,
        )

    def path(self) -> str:
        """``dag=task=run``, safe as an S3 key segment (mapped tasks get ``task-<index>``)."""
        task = self.task_id if self.map_index < 0 else f"{self.task_id}-{self.map_index}"
        return _UNSAFE_PATH.sub("_", f"{self.dag_id}={task}={self.run_id}")


@dataclass(frozen=True)
class LoadJob:
    """A load's rendered, validated options: everything the hook needs, nothing of the operator."""

    table: str
    schema: str | None
    columns: tuple[str, ...] | None
    mode: str
    format: FormatOptions
    compression: str = "auto"
    partition_column: str | None = None
    partition_value: Any = None
    upsert_keys: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()
    ledger: str | None = None
    force_reload: bool = False
    allow_empty: bool = True
    allow_missing_columns: bool = False
    iam_role_arn: str | None = None
    region: str | None = None

    @property
    def target_name(self) -> str:
        """``schema.table`` unquoted: how the ledger and messages name the target."""
        return f"{self.schema}.{self.table}" if self.schema else self.table

    @property
    def csv_header(self) -> bool:
        return self.format.format == "csv" and self.format.header

    @property
    def checks_partition(self) -> bool:
        return self.mode == "replace_partition"

    def with_role(self, iam_role_arn: str | None) -> LoadJob:
        """The job with the IAM role Redshift's COPY reads S3 with."""
        return dataclasses.replace(self, iam_role_arn=iam_role_arn)

    def options(self, gzip: bool) -> FormatOptions:
        return dataclasses.replace(self.format, gzip=gzip)

    # -- which objects ---------------------------------------------------------------------------------
    def select(self, objects: Sequence[S3Object], loaded: Collection[tuple[str, str]]) -> Selection:
        """Replace modes are all-or-nothing: one new file reloads the whole set."""
        if self.force_reload:
            return Selection(list(objects), [])
        new = [o for o in objects if (o.key, o.etag) not in loaded]
        if self.mode in ("replace_partition", "truncate_insert"):
            return Selection(list(objects), []) if new else Selection([], list(objects))
        return Selection(new, [o for o in objects if (o.key, o.etag) in loaded])

    def is_gzip(self, probe: Probe | None) -> bool:
        if self.compression in ("gzip", "none"):
            return self.compression == "gzip"
        return bool(probe and probe.gzip)

    def uniform_gzip(self, probes: Mapping[str, Probe], objects: Sequence[S3Object]) -> bool:
        """Redshift: one COPY reads every file alike, so they must all be gzip or all plain."""
        flags = {self.is_gzip(probes.get(o.key)) for o in objects if not _empty(probes.get(o.key))}
        if len(flags) > 1:
            raise LoadConfigError(
                "some files are gzip and some are not: one Redshift COPY needs them all alike"
            )
        return flags == {True}

    def check_probes(self, bucket: str, probes: Mapping[str, Probe]) -> list[str]:
        """Keys of the empty files; refuses plain files under gzip, and empty ones unless allowed."""
        if self.compression == "gzip":
            plain = [k for k, p in probes.items() if not p.gzip and not p.empty]
            if plain:
                raise LoadDataError(f"compression='gzip' but these objects are not gzip: {plain[:10]}")
        empty = [k for k, p in probes.items() if p.empty]
        if empty and not self.allow_empty:
            raise LoadDataError(
                f"{len(empty)} empty file(s) and allow_empty=False: "
                + ", ".join(f"s3://{bucket}/{k}" for k in empty[:10])
            )
        return empty

    # -- which columns ---------------------------------------------------------------------------------
    def plan(
        self,
        bucket: str,
        probes: Mapping[str, Probe],
        table_columns: Sequence[TableColumn] | None,
        *,
        ordered_header: bool,
    ) -> LoadPlan:
        """Decide the loaded columns and check every file's header against them (schema drift)."""
        if table_columns is not None and not table_columns:
            raise LoadDataError(f"table {self.target_name} does not exist or has no columns")
        expected = list(self.columns) if self.columns else [c.name for c in table_columns or ()]
        file_columns = self._file_columns(bucket, probes, expected, table_columns, ordered_header)
        columns = file_columns or expected
        fill = bool(self.checks_partition and self.partition_column and self.partition_column not in columns)
        try:
            return LoadPlan(
                schema=self.schema or None,
                table=self.table,
                columns=tuple(columns),
                mode=self.mode,
                partition_column=self.partition_column,
                upsert_keys=self.upsert_keys,
                order_by=self.order_by,
                fill_partition=fill,
            )
        except InvalidIdentifierError as exc:
            raise LoadConfigError(f"invalid identifier in the files or options: {exc}") from exc

    def _file_columns(
        self,
        bucket: str,
        probes: Mapping[str, Probe],
        expected: Sequence[str],
        table_columns: Sequence[TableColumn] | None,
        ordered_header: bool,
    ) -> list[str] | None:
        if not self.csv_header:
            return None
        first: list[str] | None = None
        for key, probe in probes.items():
            if probe.empty or probe.header is None:
                continue
            problems = self.drift(probe.header, expected, None if self.columns else table_columns)
            if problems:
                raise LoadDataError(
                    f"schema drift in s3://{bucket}/{key} (checked before loading anything): {problems}. "
                    f"Expected columns {list(expected)}; fix the file, or list the file's columns in "
                    "columns=[...] (or set allow_missing_columns=True) if it legitimately carries fewer"
                )
            if first is None:
                first = probe.header
            elif (probe.header != first) if ordered_header else (set(probe.header) != set(first)):
                raise LoadDataError(
                    f"s3://{bucket}/{key} has header {probe.header} but earlier files have {first}: "
                    "all files of one load must have the same columns"
                    + (" in the same order (Redshift COPY maps by position)" if ordered_header else "")
                )
        return first

    def drift(
        self, header: Sequence[str], expected: Sequence[str], table_columns: Sequence[TableColumn] | None
    ) -> str:
        """What is wrong with one file's header ('' when nothing).

        Without explicit ``columns`` every table column must be in the file (a column the file leaves
        out would silently load as NULL), except a column with a default or, under
        ``allow_missing_columns``, any column that may be NULL.
        """
        duplicated = sorted({c for c in header if list(header).count(c) > 1})
        unexpected = [c for c in header if c not in expected]
        if table_columns is None:
            must = list(expected)
        elif self.allow_missing_columns:
            must = [c.name for c in table_columns if c.required]
        else:
            must = [c.name for c in table_columns if not c.has_default]
        fillable = self.partition_column if self.checks_partition else None
        missing = [c for c in must if c not in header and c != fillable]
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if unexpected:
            parts.append(f"unexpected columns {unexpected}")
        if duplicated:
            parts.append(f"duplicated columns {duplicated}")
        return "; ".join(parts)

    # -- what the ledger records -----------------------------------------------------------------------
    def ledger_entries(
        self, bucket: str, objects: Sequence[S3Object], rows: Mapping[str, int], run: RunInfo
    ) -> list[LedgerEntry]:
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        return [
            LedgerEntry(
                target_table=self.target_name,
                bucket=bucket,
                s3_key=o.key,
                etag=o.etag,
                size_bytes=o.size,
                row_count=rows.get(o.key, 0),
                dag_id=run.dag_id,
                run_id=run.run_id,
                try_number=run.try_number,
                loaded_at=now,
            )
            for o in objects
        ]

    def postgres_date_style(self) -> str | None:
        """The DateStyle that reads ``date_format`` on PostgreSQL; refuses what PostgreSQL cannot read."""
        if self.format.time_format not in (None, "auto"):
            raise LoadConfigError("time_format is Redshift only: PostgreSQL reads ISO 8601 timestamps")
        if self.format.date_format not in POSTGRES_DATE_STYLES:
            raise LoadConfigError(
                f"date_format {self.format.date_format!r} is not supported on PostgreSQL: use one of "
                "'auto', 'YYYY-MM-DD', 'MM/DD/YYYY', 'DD/MM/YYYY'"
            )
        return POSTGRES_DATE_STYLES[self.format.date_format]


def _empty(probe: Probe | None) -> bool:
    return bool(probe and probe.empty)


def load_metadata(
    job: LoadJob,
    bucket: str,
    loaded: Sequence[S3Object],
    skipped: Sequence[S3Object],
    rows: int | None,
    empty: Sequence[str] = (),
    *,
    max_files: int,
    **extra: Any,
) -> dict[str, Any]:
    """The loader's XCom: counts and at most ``max_files`` keys, never data."""
    limit = max(0, int(max_files))
    return {
        "table": job.target_name,
        "mode": job.mode,
        "bucket": bucket,
        "rows_loaded": rows,
        "files_loaded": [o.key for o in loaded[:limit]],
        "files_loaded_count": len(loaded),
        "files_skipped": len(skipped),
        "files_empty": list(empty[:limit]),
        **extra,
    }


class LoadResult(NamedTuple):
    """What a load did (the operator turns it into its XCom with :func:`load_metadata`)."""

    loaded: list[S3Object]
    skipped: list[S3Object]
    rows: int | None
    empty: list[str]
    manifest_uri: str | None = None
    #: the table columns the files fill (file column = table column), for column lineage
    columns: tuple[str, ...] = ()
