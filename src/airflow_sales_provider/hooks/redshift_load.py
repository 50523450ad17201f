"""I/O of a load into Redshift or PostgreSQL over a SQL connection: transactions, locks, COPY, errors.

:class:`WarehouseLoadHook` runs the load that :mod:`airflow_sales_provider.load.plan` decides, in one
transaction per load: it streams each S3 object through ``COPY ... FROM STDIN`` on PostgreSQL, or runs
the manifest ``COPY`` of :func:`~airflow_sales_provider.load.redshift.redshift_statements` on Redshift,
and turns driver errors into a :class:`LoadError` that names the object and line.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.compat import AirflowException, BaseHook
from airflow_sales_provider.hooks.warehouse import S3SourceHook
from airflow_sales_provider.ledger import create_table_sql, forget_target_sql, insert_sql, loaded_objects_sql
from airflow_sales_provider.load.plan import LoadDataError, LoadResult, TableColumn
from airflow_sales_provider.load.postgres import postgres_error_message
from airflow_sales_provider.load.redshift import redshift_statements, translate_load_errors
from airflow_sales_provider.load.timing import SetupTimes
from airflow_sales_provider.sql.identifiers import InvalidIdentifierError
from airflow_sales_provider.sql.load import (
    PARTITION_GUARD,
    LoadConfigError,
    copies_into_target,
    create_stage_sql,
    direct_mode_sql,
    duplicate_keys_sql,
    mode_sql,
    partition_guard_sql,
    partition_violations_sql,
    postgres_copy_sql,
    redshift_load_errors_sql,
    table_columns_sql,
    unique_upsert_sql,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from airflow_sales_provider.load.plan import LoadJob, RunInfo
    from airflow_sales_provider.objects import Probe, S3Object
    from airflow_sales_provider.sql.dialects import Dialect
    from airflow_sales_provider.sql.load import FormatOptions, LoadPlan


class LoadError(AirflowException):
    """The load failed and was rolled back: the target table and the ledger are unchanged."""


class WarehouseLoadHook(BaseHook):
    """Load S3 objects into a Redshift or PostgreSQL table through the connection's own SQL hook.

    :param redshift_conn_id: a ``redshift`` or ``postgres`` connection.
    :param aws_conn_id: the AWS connection the S3 objects are read with.
    """

    conn_name_attr = "redshift_conn_id"
    default_conn_name = "redshift_default"
    conn_type = "redshift"
    hook_name = "Sales warehouse load"

    def __init__(
        self, redshift_conn_id: str = default_conn_name, aws_conn_id: str | None = "aws_default"
    ) -> None:
        super().__init__()
        self.redshift_conn_id = redshift_conn_id
        self.aws_conn_id = aws_conn_id
        self._conn: Any = None
        self._copying: str | None = None
        #: seconds per set-up phase before the first byte moves (docs/redshift-load.md#performance)
        self.setup = SetupTimes()

    @cached_property
    def source(self) -> S3SourceHook:
        source = S3SourceHook(aws_conn_id=self.aws_conn_id)
        source.setup = self.setup
        return source

    @cached_property
    def connection(self) -> tuple[Any, Dialect]:
        """The connection's hook (PostgresHook / RedshiftSQLHook) and its SQL dialect."""
        from airflow_sales_provider.hooks.warehouse import warehouse_hook_and_dialect

        with self.setup.phase("hook"):
            return warehouse_hook_and_dialect(self.redshift_conn_id)

    @property
    def dialect(self) -> Dialect:
        return self.connection[1]

    def get_conn(self) -> Any:
        return self.connection[0].get_conn()

    def cancel(self) -> bool:
        """Cancel the running statement of the load's connection (its transaction then rolls back)."""
        cancel = getattr(self._conn, "cancel", None)
        if callable(cancel):
            cancel()
            return True
        return False

    # -- the transaction -------------------------------------------------------------------------------
    @contextmanager
    def transaction(self, job: LoadJob, bucket: str) -> Iterator[Any]:
        """A cursor in one transaction: committed by the caller, rolled back and translated on error."""
        conn = self._conn = self.get_conn()
        try:
            conn.autocommit = False
            yield conn.cursor()
        except Exception as exc:
            _quietly(conn.rollback)
            translated = self._translate(conn, exc, job, bucket)
            if translated is exc:
                raise
            raise translated from exc
        finally:
            _quietly(conn.close)
            self._conn = None
            self._copying = None

    def ensure_ledger(self, cur: Any, ledger: str) -> None:
        """``CREATE TABLE IF NOT EXISTS`` the ledger; two first runs racing to create it both succeed.

        (PostgreSQL can fail the loser of that race with a unique violation on its catalog: it retries
        once the winner has committed, and then finds the table.)
        """
        for attempt in (1, 2):
            try:
                cur.execute(create_table_sql(ledger))
                self._conn.commit()
                return
            except Exception:
                self._conn.rollback()
                if attempt == 2:
                    raise

    def loaded_objects(self, cur: Any, job: LoadJob, bucket: str) -> set[tuple[str, str]]:
        if not job.ledger:
            return set()
        cur.execute(*loaded_objects_sql(job.ledger, job.target_name, bucket))
        return {(key, etag) for key, etag in cur.fetchall()}

    def table_columns(self, cur: Any, job: LoadJob) -> list[TableColumn]:
        cur.execute(*table_columns_sql(job.schema or None, job.table))
        return [
            TableColumn(name, bool(not_null), bool(default)) for name, not_null, default in cur.fetchall()
        ]

    def check_partition(self, cur: Any, job: LoadJob, plan: LoadPlan) -> None:
        """``replace_partition``: refuse a batch with rows of another partition (they would duplicate)."""
        cur.execute(*partition_violations_sql(plan, job.partition_value))
        outside = int(cur.fetchone()[0])
        if outside:
            raise LoadError(
                f"{outside} row(s) of the batch have {plan.partition_column} other than "
                f"{job.partition_value!r}: mode='replace_partition' only loads rows of the partition it "
                "replaces (they would survive the next replace and duplicate). Nothing was loaded."
            )

    def apply_mode(self, cur: Any, job: LoadJob, plan: LoadPlan) -> int:
        """Move the staged rows into the target with the mode's SQL; the rows it wrote."""
        self._copying = None
        if job.checks_partition and not plan.fill_partition:
            self.check_partition(cur, job, plan)
        statements = mode_sql(self.dialect, plan, job.partition_value)
        if plan.mode == "upsert" and not self.dialect.supports_merge:
            cur.execute(duplicate_keys_sql(plan))
            if not cur.fetchone()[0]:  # the usual batch: one row per key, so nothing to rank
                statements = unique_upsert_sql(plan)
        rowcount = 0
        for sql, params in statements:
            cur.execute(sql, params)
            rowcount = cur.rowcount
        return int(rowcount)

    def write_ledger(
        self,
        cur: Any,
        job: LoadJob,
        bucket: str,
        objects: Sequence[S3Object],
        rows: Mapping[str, int],
        run: RunInfo,
    ) -> None:
        if not job.ledger:
            return
        for sql, params in forget_target_sql(job.ledger, job.target_name, bucket, [o.key for o in objects]):
            cur.execute(sql, params)
        cur.executemany(
            insert_sql(job.ledger), [e.as_row() for e in job.ledger_entries(bucket, objects, rows, run)]
        )

    # -- PostgreSQL: stream each object through COPY FROM STDIN ------------------------------------------
    def load_postgres(self, job: LoadJob, bucket: str, objects: list[S3Object], run: RunInfo) -> LoadResult:
        """Plan outside the lock, then lock, re-read the ledger, copy, move and record in one transaction."""
        job.postgres_date_style()
        self.source.prepare()  # the S3 client is made while the warehouse answers
        with self.transaction(job, bucket) as cur:
            with self.setup.phase("catalog"):
                if job.ledger:
                    self.ensure_ledger(cur, job.ledger)
                candidates = job.select(objects, self.loaded_objects(cur, job, bucket)).to_load
                table_columns = self.table_columns(cur, job)
                self._conn.commit()
            probes = self.source.probe_load(job, bucket, candidates)
            plan = job.plan(bucket, probes, table_columns, ordered_header=False)
            with self.setup.phase("catalog"):
                cur.execute(*self.dialect.load_lock_sql(job.ledger or "", plan.target_name))
                # an overlapping run may have loaded files meanwhile: decide again under the lock
                to_load, skipped = job.select(objects, self.loaded_objects(cur, job, bucket))
            if not to_load:
                self._conn.commit()
                self.log.info("all %s objects are already in the ledger: nothing to load", len(skipped))
                return LoadResult([], skipped, 0, [])
            unprobed = [o for o in to_load if o.key not in probes]
            if unprobed:  # files the first ledger read had skipped; rare (force/replace modes)
                probes = {**probes, **self.source.probe_load(job, bucket, unprobed)}
                plan = job.plan(bucket, probes, table_columns, ordered_header=False)
            rows, empty, inserted = self._write(cur, job, plan, bucket, to_load, probes)
            self.write_ledger(cur, job, bucket, to_load, rows, run)
            self._conn.commit()
        self.log.info("loaded %s rows into %s from %s objects", inserted, plan.target_name, len(to_load))
        self.log.info("%s", self.setup.summary())
        return LoadResult(to_load, skipped, inserted, empty, columns=plan.columns)

    def _write(
        self,
        cur: Any,
        job: LoadJob,
        plan: LoadPlan,
        bucket: str,
        objects: Sequence[S3Object],
        probes: Mapping[str, Probe],
    ) -> tuple[dict[str, int], list[str], int]:
        """COPY straight into the target where the mode allows, else through the staging table.

        Either way it happens in the load's transaction, after the lock: a failure rolls back the
        table and the ledger together. ``replace_partition`` copies under :func:`partition_guard_sql`;
        a row outside the partition sends the batch through the staging table, which counts them all
        exactly and fails the load naming them.
        """
        guard = partition_guard_sql(plan, job.partition_value) if job.checks_partition else None
        if not copies_into_target(plan) or (job.checks_partition and guard is None):
            return self._staged(cur, job, plan, bucket, objects, probes)
        if guard:
            cur.execute("SAVEPOINT sales_load_direct")
        try:
            for sql, params in direct_mode_sql(self.dialect, plan, job.partition_value):
                cur.execute(sql, params)
            rows, empty = self._copy_all(cur, job, plan, bucket, objects, probes, where=guard)
        except Exception as exc:
            if not guard or PARTITION_GUARD not in str(exc):
                raise
            self.log.info("rows outside partition %r: counting them in a staging table", job.partition_value)
            cur.execute("ROLLBACK TO SAVEPOINT sales_load_direct")
            return self._staged(cur, job, plan, bucket, objects, probes)
        return rows, empty, sum(rows.values())

    def _staged(
        self,
        cur: Any,
        job: LoadJob,
        plan: LoadPlan,
        bucket: str,
        objects: Sequence[S3Object],
        probes: Mapping[str, Probe],
    ) -> tuple[dict[str, int], list[str], int]:
        """Stage the files in a session-temporary table, then move them with the mode's SQL."""
        self._session_setup(cur, job)
        for sql, params in create_stage_sql(self.dialect, plan):
            cur.execute(sql, params)
        rows, empty = self._copy_all(cur, job, plan, bucket, objects, probes, stage=True)
        return rows, empty, self.apply_mode(cur, job, plan)

    def _session_setup(self, cur: Any, job: LoadJob) -> None:
        style = job.postgres_date_style()
        for sql in self.dialect.session_setup_sql:  # best effort: a tuning setting must not fail a load
            cur.execute("SAVEPOINT sales_load_setup")
            try:
                cur.execute(sql)
            except Exception:
                cur.execute("ROLLBACK TO SAVEPOINT sales_load_setup")
            cur.execute("RELEASE SAVEPOINT sales_load_setup")
        if style:
            cur.execute("SELECT set_config('DateStyle', %s, true)", (style,))

    def _copy_all(
        self,
        cur: Any,
        job: LoadJob,
        plan: LoadPlan,
        bucket: str,
        objects: Sequence[S3Object],
        probes: Mapping[str, Probe],
        *,
        stage: bool = False,
        where: str | None = None,
    ) -> tuple[dict[str, int], list[str]]:
        json_paths = self.source.json_paths(job, plan.columns)
        style = None if stage else job.postgres_date_style()
        if style:  # the staged path sets it with its session set-up
            cur.execute("SELECT set_config('DateStyle', %s, true)", (style,))
        rows: dict[str, int] = {}
        empty: list[str] = []
        for obj in objects:
            probe = probes[obj.key]
            if probe.empty:
                empty.append(obj.key)
                rows[obj.key] = 0
                continue
            # CSV columns are mapped by name: each file's COPY lists them in that file's header order.
            columns = (probe.header if job.csv_header else None) or list(plan.columns)
            options = job.options(gzip=job.is_gzip(probe))
            sql = postgres_copy_sql(plan, options, columns, into_target=not stage, where=where)
            rows[obj.key] = self.copy_object(cur, bucket, obj, plan, options, json_paths, columns, sql=sql)
            self.log.info("copied %s rows from s3://%s/%s", rows[obj.key], bucket, obj.key)
        return rows, empty

    def copy_object(
        self,
        cur: Any,
        bucket: str,
        obj: S3Object,
        plan: LoadPlan,
        options: FormatOptions,
        json_paths: list[str] | None,
        columns: Sequence[str],
        *,
        sql: str | None = None,
    ) -> int:
        """Stream one object through ``sql`` (default: into the staging table); memory stays at one chunk."""
        from airflow_sales_provider.hooks.warehouse import copy_from_stream
        from airflow_sales_provider.load.streams import IterStream, iter_lines, json_lines_to_copy_text

        self._copying = obj.key
        stream: Any = self.source.open_stream(bucket, obj, gzip=options.gzip)
        self.setup.data_moves()
        try:
            if options.format != "json":
                return copy_from_stream(cur, sql or postgres_copy_sql(plan, options, columns), stream)
            rows = IterStream(json_lines_to_copy_text(iter_lines(stream), plan.columns, json_paths))
            try:
                return copy_from_stream(cur, sql or postgres_copy_sql(plan, options, plan.columns), rows)
            except Exception:
                if rows.error is not None:  # psycopg2 wraps it in "error in .read() call"
                    raise rows.error from None
                raise
        finally:
            stream.close()

    # -- Redshift: COPY from S3 with a manifest ----------------------------------------------------------
    def load_redshift(
        self, job: LoadJob, bucket: str, objects: list[S3Object], run: RunInfo, manifest_uri: str
    ) -> LoadResult:
        """One transaction: lock, read the ledger, COPY the new objects by manifest, move, record."""
        self.source.prepare()
        with self.transaction(job, bucket) as cur:
            with self.setup.phase("catalog"):
                if job.ledger:
                    self.ensure_ledger(cur, job.ledger)
                table_columns = self.table_columns(cur, job)
                self._conn.commit()
                if job.ledger:
                    cur.execute(*self.dialect.load_lock_sql(job.ledger, job.target_name))
                to_load, skipped = job.select(objects, self.loaded_objects(cur, job, bucket))
            if not to_load:
                self._conn.commit()
                return LoadResult([], skipped, 0, [])
            probes = self.source.probe_load(job, bucket, to_load)
            plan = job.plan(bucket, probes, table_columns, ordered_header=True)
            empty = [k for k, p in probes.items() if p.empty]
            data = [o for o in to_load if o.key not in empty]
            manifest = self.source.write_manifest(manifest_uri, bucket, data) if data else None
            gzip = job.uniform_gzip(probes, to_load)
            statements = redshift_statements(
                job, self.dialect, plan, bucket, to_load, empty, manifest, run, gzip=gzip, lock=False
            )
            mode_sqls = {s for s, _ in mode_sql(self.dialect, plan, job.partition_value)}
            inserted = 0
            for sql, params in statements:
                if sql.startswith("COPY "):
                    self.setup.data_moves()
                cur.execute(sql, params)
                if sql.startswith("COPY ") and job.checks_partition and not plan.fill_partition:
                    self.check_partition(cur, job, plan)
                if sql in mode_sqls:
                    inserted = int(cur.rowcount)
            self._conn.commit()
        return LoadResult(to_load, skipped, inserted, empty, manifest, columns=plan.columns)

    # -- errors --------------------------------------------------------------------------------------------
    def _translate(self, conn: Any, exc: Exception, job: LoadJob, bucket: str) -> Exception:
        """A :class:`LoadError` naming the object and line; configuration errors pass unchanged."""
        if isinstance(exc, (LoadError, LoadConfigError, InvalidIdentifierError)):
            return exc
        if isinstance(exc, LoadDataError):
            return LoadError(str(exc))
        if self.dialect.copy_from_s3:
            return LoadError(translate_load_errors(job.target_name, exc, _rejected_rows(conn)))
        return translate_postgres_error(exc, job.target_name, bucket, self._copying)


def translate_postgres_error(exc: BaseException, target: str, bucket: str, key: str | None) -> LoadError:
    """A PostgreSQL load failure as the user can act on it: which object, which line, what was wrong."""
    return LoadError(postgres_error_message(exc, target, bucket, key))


def _rejected_rows(conn: Any) -> list[Any]:
    """Redshift's ``stl_load_errors`` rows of the failed COPY (none if the connection is gone)."""
    try:
        cur = conn.cursor()
        cur.execute(redshift_load_errors_sql())
        return list(cur.fetchall())
    except Exception:
        return []


def _quietly(action: Any) -> None:
    try:
        action()
    except Exception:  # the connection may be gone: the server rolled back already
        pass
