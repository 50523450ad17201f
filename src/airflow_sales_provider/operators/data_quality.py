"""Run a declarative suite of data-quality checks against a warehouse table in (about) one scan."""

from __future__ import annotations

import collections
import contextlib
import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_sales_provider.checks.results import XCOM_KEY
from airflow_sales_provider.compat import (
    AirflowException,
    AirflowFailException,
    BaseHook,
    BaseOperator,
    context_value,
)

# The spec parser, compiler and history builders are imported where a task runs them, not here:
# a DAG file that only builds this operator does not pay for them at every parse.

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.providers.common.sql.hooks.sql import DbApiHook

    from airflow_sales_provider.checks import CheckResult, Partition, Plan, Query
    from airflow_sales_provider.checks.spec import Check
    from airflow_sales_provider.compat import Context
    from airflow_sales_provider.sql.dialects import Dialect

_MAX_ERROR = 300


class DataQualityOperator(BaseOperator):
    """Check a table against a declarative spec; fail on ``fail`` checks, log ``warn`` checks, record history.

    Checks that are aggregates over the table (row counts, nulls, accepted values, ranges,
    freshness, per-row expressions, relationships, a distinct count, the metric of ``reconcile`` and
    ``change``) are compiled into ONE aggregate query; uniqueness (unless an enforced unique key
    guarantees it), custom SQL and the other side of a reconciliation each get their own query. The
    whole spec is validated before any query runs. The results (see :data:`XCOM_KEY`) are pushed to
    XCom under ``"data_quality"`` before the task fails, and returned when it succeeds.

    .. seealso::
        For more information on how to use this operator, take a look at the guide: ``docs/data-quality.md``

    :param table: the table to check, ``table`` or ``schema.table`` (templated).
    :param checks: the spec: a list of check mappings, YAML text, or the path of a ``.yaml``/``.yml``
        file (templated; a file is read and rendered with Jinja like any template file).
    :param conn_id: any SQL connection whose hook is a ``DbApiHook`` (PostgreSQL, Redshift, ...) (templated).
    :param partition: ``{"column": ..., "value": ...}`` restricting every check to one partition,
        e.g. ``{"column": "sale_date", "value": "{{ ds }}"}``; the value is bound (templated).
    :param history: ``True`` to append every result to ``data_quality_history``, or the name of the
        history table (``schema.table``); ``change`` checks read their baseline from it (templated).
    :param hook_params: extra keyword arguments for the connection's hook.
    :param concurrent_queries: when a check needs a sort of the table (uniqueness), run it on a second
        connection while the shared scan runs (default); ``False`` runs every query on one connection,
        one after another.
    """

    template_fields: Sequence[str] = ("table", "checks", "partition", "conn_id", "history")
    template_ext: Sequence[str] = (".yaml", ".yml")
    template_fields_renderers: ClassVar[dict[str, str]] = {"checks": "yaml", "partition": "json"}
    ui_color = "#e6f2d9"

    def __init__(
        self,
        *,
        table: str,
        checks: list[dict[str, Any]] | str,
        conn_id: str = "warehouse_default",
        partition: dict[str, Any] | None = None,
        history: bool | str = False,
        hook_params: dict[str, Any] | None = None,
        concurrent_queries: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.table = table
        self.checks = checks
        self.conn_id = conn_id
        self.partition = partition
        self.history = history
        self.hook_params = hook_params or {}
        self.concurrent_queries = concurrent_queries
        self.results: list[CheckResult] = []
        self._conn: Any = None
        self._side_conn: Any = None
        self._autocommit = False
        self._killed = False
        self._stop_side = False

    # -- connection ------------------------------------------------------------------------------------
    @cached_property
    def connection(self) -> Any:
        return BaseHook.get_connection(self.conn_id)

    @cached_property
    def hook(self) -> DbApiHook:
        """The connection's own SQL hook (``Connection.get_hook()``), e.g. PostgresHook or RedshiftSQLHook."""
        hook = self.connection.get_hook(hook_params=self.hook_params)
        if not hasattr(hook, "get_records"):
            raise AirflowFailException(
                f"connection {self.conn_id!r} (type {self.connection.conn_type!r}) has no SQL hook: "
                "use a PostgreSQL, Redshift or other common.sql connection"
            )
        return hook

    @cached_property
    def dialect(self) -> Dialect:
        from airflow_sales_provider.sql.dialects import dialect_for_checks

        return dialect_for_checks(self.connection.conn_type)

    # -- spec ------------------------------------------------------------------------------------------
    def _prepare(self) -> tuple[tuple[str | None, str], Partition | None, list[Check], str | None]:
        """Validate table, partition, history and the whole spec; one error lists every problem."""
        from airflow_sales_provider.checks import SpecError, load_spec, parse_partition, parse_spec
        from airflow_sales_provider.checks.history import history_table
        from airflow_sales_provider.sql.identifiers import InvalidIdentifierError, parse_qualified

        problems: list[str] = []
        source = None
        table: tuple[str | None, str] = (None, "")
        partition = None
        checks: list[Check] = []
        try:
            table = parse_qualified(self.table, "table")
        except InvalidIdentifierError as exc:
            problems.append(f"table: {exc}")
        try:
            partition = parse_partition(self.partition)
        except SpecError as exc:
            problems.extend(exc.problems)
        history = None
        try:
            history = history_table(self.history)
        except InvalidIdentifierError as exc:
            problems.append(f"history: {exc}")
        try:
            raw, source = load_spec(self.checks)
            checks = parse_spec(raw, history=bool(history) or bool(self.history), source=source)
        except SpecError as exc:
            source = exc.source
            problems.extend(exc.problems)
        if problems:
            raise AirflowFailException(str(SpecError(problems, source)))
        return table, partition, checks, history

    # -- run -------------------------------------------------------------------------------------------
    def _open_connection(self) -> Any:
        conn = self.hook.get_conn()
        self._autocommit = bool(getattr(self.hook, "supports_autocommit", False))
        if self._autocommit:
            self.hook.set_autocommit(conn, True)
        return conn

    def _query_connection(self) -> Any:
        """One connection (autocommit where the hook supports it) for every read of this run."""
        if self._conn is None:
            self._conn = self._open_connection()
        return self._conn

    def _close(self) -> None:
        for attr in ("_conn", "_side_conn"):
            conn = getattr(self, attr)
            setattr(self, attr, None)
            if conn is not None:
                with contextlib.suppress(Exception):
                    if not self._autocommit:
                        conn.rollback()
                    conn.close()

    def _records(self, query: Query, conn: Any = None) -> list[Any]:
        if self._killed:
            raise AirflowException("data-quality checks were cancelled (on_kill)")
        sql, parameters = query.render(self.dialect.paramstyle)
        self.log.info("Running %s query:\n%s\nparameters: %s", query.purpose, sql, parameters)
        conn = conn if conn is not None else self._query_connection()
        cursor = conn.cursor()
        try:
            if parameters is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, parameters)
            return list(cursor.fetchall()) if cursor.description else []
        except Exception:
            if not self._autocommit:  # leave no aborted transaction behind for the next query
                with contextlib.suppress(Exception):
                    conn.rollback()
            raise
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

    def _scalar(self, query: Query, conn: Any = None) -> Any:
        rows = self._records(query, conn)
        if not rows:
            raise ValueError("the query returned no rows")
        return rows[0][0]

    def on_kill(self) -> None:
        """Cancel the query that is running (the scan can be long) and run no further ones."""
        self._killed = True
        for conn in (self._conn, self._side_conn):
            if conn is not None and hasattr(conn, "cancel"):
                self.log.info("Cancelling the running data-quality query")
                with contextlib.suppress(Exception):
                    conn.cancel()

    def execute(self, context: Context) -> dict[str, Any]:
        (schema, table), partition, checks, history = self._prepare()
        try:
            return self._run(context, schema, table, partition, checks, history)
        finally:
            self._close()

    def _run(
        self,
        context: Context,
        schema: str | None,
        table: str,
        partition: Partition | None,
        checks: list[Check],
        history: str | None,
    ) -> dict[str, Any]:
        from airflow_sales_provider.checks import Query, compile_checks, evaluate, format_table, summarize
        from airflow_sales_provider.checks.history import create_sql
        from airflow_sales_provider.checks.results import failure_message

        table_name = f"{schema}.{table}" if schema else table
        plan = compile_checks(table, checks, self.dialect, partition, schema=schema)
        self.log.info(
            "Running %d checks on %s in %d queries (%d in the shared scan)",
            len(plan.checks),
            table_name,
            len(plan.queries),
            sum(1 for c in plan.checks if c.scan_columns and c.query is None),
        )
        partition_text = None if partition is None else str(partition.value)
        run_id = str(context_value(context, "run_id", "manual"))

        baselines: dict[str, list[float]] = {}
        if history:
            self._records(Query("history", create_sql(history)))
            if not self._autocommit:
                self._query_connection().commit()
            change = [c for c in checks if c.type == "change"]
            if change:
                baselines = self._baselines(history, table_name, change, run_id, partition_text)

        unique_keys: list[list[str]] = []
        if plan.unique_keys is not None:
            unique_keys = [list(row[0]) for row in self._records(plan.unique_keys) if row[0]]
        own: dict[str, Any] = {}
        errors: dict[str, str] = {}
        try:
            scan_row = self._scan_and_own_queries(plan, unique_keys, own, errors)
        except Exception as exc:
            if not plan.folded or self._killed:
                raise
            # A parent table the scan joined is missing, say: run each relationship on its own, so
            # the error lands on its check and the others still report.
            self.log.warning("The scan failed (%s); again without the joined parent tables", exc)
            plan = compile_checks(table, checks, self.dialect, partition, schema=schema, fold_joins=False)
            own.clear()
            errors.clear()
            scan_row = self._scan_and_own_queries(plan, unique_keys, own, errors)
        self.results = evaluate(plan, scan_row, own, errors=errors, baselines=baselines)
        summary = summarize(table_name, partition, self.results)
        self.log.info("Data-quality results for %s:\n%s", table_name, format_table(self.results))

        task_instance = context_value(context, "ti")
        if task_instance is not None:  # first: the results reach XCom whatever happens next
            task_instance.xcom_push(key=XCOM_KEY, value=summary)
        if history:
            self._record(history, context, run_id, table_name, partition_text)
        if summary["summary"]["warned"]:
            self.log.warning("%s", failure_message(summary, "warned"))
        if not summary["passed"]:
            raise AirflowException(failure_message(summary, "failed"))
        self.log.info(
            "All %d fail-severity checks passed on %s (%d warned)",
            summary["summary"]["total"] - summary["summary"]["warned"],
            table_name,
            summary["summary"]["warned"],
        )
        return summary

    def _scan_and_own_queries(
        self, plan: Plan, unique_keys: list[list[str]], own: dict[str, Any], errors: dict[str, str]
    ) -> Any:
        """The shared scan and the checks' own queries; the scan's row.

        PostgreSQL runs the scan with parallel workers but a uniqueness sort in one process, so a
        sort runs on a second connection beside the scan (``concurrent_queries``): the run then takes
        about as long as the longer of the two. Both connections take the remaining own queries from
        one queue (the sorts first on the side, the rest after the scan), so neither lane idles while
        the other has work. Without a sort among the own queries everything runs on one connection,
        one query after another: a second parallel query would only compete for the same cores.
        """
        pending = []
        for item in plan.checks:
            if item.query is None:
                continue
            if plan.covered_by_unique_key(item, unique_keys):
                self.log.info("%s: guaranteed by a unique index or constraint, not counted", item.check.name)
                own[item.check.name] = 0
            else:
                pending.append(item)
        scan = plan.scan
        if scan is None or not self.concurrent_queries or not any(c.check.definition.sorts for c in pending):
            scan_row = self._records(scan)[0] if scan is not None else None
            self._own_queries(collections.deque(pending), own, errors, None, from_left=True)
            return scan_row
        from concurrent.futures import ThreadPoolExecutor

        # the sorts at the left end, where the side lane takes from; the scan's lane takes from the right
        queue = collections.deque(sorted(pending, key=lambda item: not item.check.definition.sorts))
        if self._side_conn is None:
            self._side_conn = self._open_connection()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dq-own-queries") as pool:
            side = pool.submit(self._own_queries, queue, own, errors, self._side_conn, from_left=True)
            try:
                scan_row = self._records(scan)[0]
                self._own_queries(queue, own, errors, None, from_left=False)
            except BaseException:
                self._stop_side = True  # the side lane stops too; the scan's error is the one reported
                with contextlib.suppress(Exception):
                    self._side_conn.cancel()
                raise
            finally:
                side_error = side.exception()
                self._stop_side = False
            if side_error is not None:
                raise side_error
        return scan_row

    def _own_queries(
        self,
        queue: collections.deque[Any],
        own: dict[str, Any],
        errors: dict[str, str],
        conn: Any,
        *,
        from_left: bool,
    ) -> None:
        """Run own queries from ``queue`` (left: the sorts first; right: the rest) until it is empty."""
        while not self._stop_side:
            try:
                item = queue.popleft() if from_left else queue.pop()
            except IndexError:
                return
            try:
                own[item.check.name] = self._own_value(item, conn)
            except Exception as exc:  # the check fails with the error; the others still run
                if self._killed or self._stop_side:
                    raise
                message = " ".join(str(exc).split())[:_MAX_ERROR]
                self.log.warning("Check %s could not run: %s", item.check.name, message)
                errors[item.check.name] = message

    def _own_value(self, item: Any, conn: Any) -> Any:
        """The own query's value; a pre-check that does not prove the good case runs the exact query."""
        if item.confirm is None:
            return self._scalar(item.query, conn)
        try:
            value = self._scalar(item.query, conn)
        except Exception as exc:
            if self._killed or self._stop_side:
                raise
            self.log.info("%s: the pre-check could not run (%s); counting exactly", item.check.name, exc)
        else:
            if value == 0:
                return value
        return self._scalar(item.confirm, conn)

    def _baselines(
        self, history: str, table_name: str, change: list[Check], run_id: str, partition_value: str | None
    ) -> dict[str, list[float]]:
        from airflow_sales_provider.checks.history import baseline_query

        lookback = max(int(c.params["lookback"]) for c in change)
        query = baseline_query(
            history,
            table_name,
            [c.name for c in change],
            lookback,
            run_id=run_id,
            partition_value=partition_value,
        )
        baselines: dict[str, list[float]] = {}
        for name, value in self._records(query):
            baselines.setdefault(name, []).append(float(value))
        return baselines

    def _record(
        self, history: str, context: Context, run_id: str, table_name: str, partition_value: str | None
    ) -> None:
        """Replace this task's history rows for this run, in one transaction."""
        from airflow_sales_provider.checks.history import record_queries

        queries = record_queries(
            history,
            self.results,
            dag_id=str(getattr(self, "dag_id", None) or "manual"),
            task_id=self.task_id,
            run_id=run_id,
            table_name=table_name,
            partition_value=partition_value,
            checked_at=datetime.datetime.now(datetime.timezone.utc),
        )
        with contextlib.closing(self.hook.get_conn()) as conn:
            with contextlib.closing(conn.cursor()) as cursor:
                for query in queries:
                    sql, parameters = query.render(self.dialect.paramstyle)
                    cursor.execute(sql, parameters)
            conn.commit()
        self.log.info("Recorded %d results in %s", len(self.results), history)

    # -- OpenLineage (docs/lineage.md) ----------------------------------------------------------------
    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Assertions and metrics on the checked table; the history table as an output when history is on."""
        from airflow_sales_provider.lineage.facets import dataset, openlineage_installed, operator_lineage

        if not openlineage_installed():
            return None
        from openlineage.client.facet_v2 import (
            data_quality_assertions_dataset,
            data_quality_metrics_input_dataset,
        )

        facets = openlineage_facets(
            self.results, data_quality_assertions_dataset, data_quality_metrics_input_dataset
        )
        checked = dataset(self._dataset_name(str(self.table)), facets)
        history = self._history_table()
        outputs = [dataset(self._dataset_name(history))] if history else []
        return operator_lineage(inputs=[checked], outputs=outputs)

    get_openlineage_facets_on_failure = get_openlineage_facets_on_complete

    def _dataset_name(self, table: str) -> Any:
        from airflow_sales_provider.lineage import DatasetName, warehouse_table

        try:
            conn = self.connection
        except Exception:  # lineage must never fail the task
            return DatasetName(f"sql://{self.conn_id}", table)
        return warehouse_table(
            conn.conn_type, conn.host, conn.port, conn.schema, table, None, conn.extra_dejson
        )

    def _history_table(self) -> str | None:
        """The history table's plain ``schema.table`` name, or ``None`` when history is off."""
        from airflow_sales_provider.checks.history import DEFAULT_HISTORY_TABLE

        if self.history is None or self.history is False or self.history == "":
            return None
        return DEFAULT_HISTORY_TABLE if self.history is True else str(self.history)


def openlineage_facets(results: Sequence[CheckResult], assertions_module: Any, metrics_module: Any) -> dict:
    """``dataQualityAssertions`` (one per check) and ``dataQualityMetrics`` (row count, per-column nulls).

    Each assertion names its check and says its severity (OpenLineage's ``error`` / ``warn``) and the
    expected and observed values, where the installed OpenLineage client has those fields (older ones
    carry only the check, its outcome and its column).
    """
    import inspect

    accepted = inspect.signature(assertions_module.Assertion).parameters
    assertions = []
    for r in results:
        fields = {
            "assertion": r.check,
            "success": r.passed,
            "column": r.column,
            "name": r.name,
            "severity": "warn" if r.severity == "warn" else "error",
            "expected": r.expected,
            "actual": None if r.observed is None else str(r.observed),
        }
        assertions.append(assertions_module.Assertion(**{k: v for k, v in fields.items() if k in accepted}))
    facets: dict[str, Any] = {
        "dataQualityAssertions": assertions_module.DataQualityAssertionsDatasetFacet(assertions=assertions)
    }
    row_count = next((int(r.value) for r in results if r.check == "row_count" and r.value is not None), None)
    columns = {
        r.column: metrics_module.ColumnMetrics(nullCount=int(r.value))
        for r in results
        if r.check == "not_null" and r.column and r.value is not None
    }
    facets["dataQualityMetrics"] = metrics_module.DataQualityMetricsInputDatasetFacet(
        rowCount=row_count, columnMetrics=columns
    )
    return facets


__all__ = ["XCOM_KEY", "DataQualityOperator"]
