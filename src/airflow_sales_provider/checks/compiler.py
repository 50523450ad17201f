"""Compile validated checks into SQL: one aggregate scan per table plus the few queries that cannot share it.

Pure: spec in, SQL text and bound parameters out (no connection, no Airflow). Every identifier is
validated and double-quoted; every value is a bound parameter (``%(name)s`` placeholders, rendered
to the driver's paramstyle by :meth:`Query.render`). SQL text from the spec (``expression``,
``sql``) has already passed :mod:`~airflow_sales_provider.checks.sqlguard` and has its ``%`` signs
escaped so the driver does not read them as placeholders.

What shares the scan (one ``SELECT agg, agg, ... FROM t WHERE <partition>``, identical aggregates
computed once): ``row_count``, ``not_null``, ``accepted_values``, ``range``, ``freshness``,
``expression``, this side of ``reconcile``, the metric of ``change``. These are all plain
aggregates, which PostgreSQL can also run with parallel workers.

What gets its own query, each as cheap as the database allows (each type's module in
:mod:`airflow_sales_provider.checks.types` holds its SQL):

- ``unique``: nothing at all when an enforced unique index or constraint covers the key (PostgreSQL:
  one catalog lookup for all ``unique`` checks); else ``count(k) - count(DISTINCT k)`` for one
  column, or a ``GROUP BY`` returning only the duplicate count for a composite key;
- ``distinct_count``: the first one shares the scan too, by grouping it (``GROUP BY`` the column with
  every aggregate per group, then one outer row combining the groups and counting them; PostgreSQL
  runs that as a parallel hash aggregate, so a low-cardinality column costs little). Others get a
  ``GROUP BY`` of their own; a sorting ``count(DISTINCT)`` would stop the scan running in parallel.
  (Not when the scan holds an ``avg``/``count_distinct`` metric, which cannot be combined.)
- ``relationships``: an anti-join with ``NOT EXISTS``;
- custom ``sql`` and the other side of ``reconcile``: their own query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.sql.identifiers import quote_identifier, quote_qualified

if TYPE_CHECKING:
    from collections.abc import Iterable

    from airflow_sales_provider.checks.spec import Check, Partition
    from airflow_sales_provider.sql.dialects import Dialect

SCAN = "scan"
#: how per-group values of a grouped scan combine into the table's value
_COMBINE = {
    "count": "CAST(coalesce(sum({}), 0) AS bigint)",
    "sum": "sum({})",
    "min": "min({})",
    "max": "max({})",
}
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


@dataclass(frozen=True)
class Query:
    """One SQL statement with ``%(name)s`` placeholders and the values to bind to them."""

    purpose: str
    sql: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def render(self, paramstyle: str = "pyformat") -> tuple[str, dict[str, Any] | list[Any] | None]:
        """The SQL and parameters for a DB-API driver's ``paramstyle``.

        ``None`` parameters (no placeholders) means "run without binding", so ``%%`` is turned back
        into ``%`` for drivers that would otherwise see it literally.
        """
        if not self.parameters:
            return self.sql.replace("%%", "%"), None
        if paramstyle == "pyformat":
            return self.sql, dict(self.parameters)
        values: list[Any] = []

        def swap(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return "%%" if paramstyle == "format" else "%"
            if paramstyle == "named":
                return f":{name}"
            values.append(self.parameters[name])
            return "%s" if paramstyle == "format" else "?"

        sql = _PLACEHOLDER.sub(swap, self.sql)
        if paramstyle == "named":
            return sql, dict(self.parameters)
        if paramstyle not in {"format", "qmark"}:
            raise ValueError(f"unsupported paramstyle {paramstyle!r}")
        return sql, values


@dataclass
class CompiledCheck:
    """A check, the scan columns it reads (role -> alias) and its own query, if any.

    ``confirm``: when the own query is a pre-check that can only prove the good case (its result is
    0), the exact query to run when it does not (a non-zero result, or an error).
    """

    check: Check
    scan_columns: dict[str, str] = field(default_factory=dict)
    query: Query | None = None
    confirm: Query | None = None


@dataclass
class Plan:
    """The compiled suite for one table."""

    table: str
    scan: Query | None
    scan_aliases: list[str]
    checks: list[CompiledCheck]
    #: the table's enforced unique keys (catalog query; only where the dialect has one and the suite
    #: has ``unique`` checks): a ``unique`` check whose key is covered by one needs no query.
    unique_keys: Query | None = None
    #: the scan holds checks that could also run on their own (``relationships`` joined in): if it
    #: fails, compile again with ``fold_joins=False`` so an error names the check it belongs to.
    folded: bool = False

    def covered_by_unique_key(self, item: CompiledCheck, unique_keys: Iterable[Iterable[str]]) -> bool:
        """Whether the database already guarantees ``item``'s (``unique``) key.

        A unique index on a subset of the key columns makes the whole key unique (rows with a NULL key
        part are ignored by the check, as by the index).
        """
        if item.check.type != "unique":
            return False
        columns = set(item.check.params["columns"])
        return any(set(key) and set(key) <= columns for key in unique_keys)

    @property
    def queries(self) -> list[Query]:
        """Every statement that may run: the unique-key lookup, the scan, then the checks' own queries."""
        own = [q for c in self.checks for q in (c.query, c.confirm) if q is not None]
        first = [q for q in (self.unique_keys, self.scan) if q is not None]
        return first + own


def escape_percent(sql: str, keep: Iterable[str] = ()) -> str:
    """Escape ``%`` in user SQL (``LIKE 'A%'``, ``a % 2``) except ``%(name)s`` for names in ``keep``."""
    names = set(keep)

    def swap(match: re.Match[str]) -> str:
        return match.group(0) if match.group(1) in names else "%%" + match.group(0)[1:]

    return re.sub(r"%(?:\((\w+)\)s)?", swap, sql)


def aggregate_sql(function: str, column: str | None) -> str:
    """``count(*)``, ``sum("amount")``, ``count(DISTINCT "x")`` ... for a validated function/column."""
    quoted = quote_identifier(column, "column") if column else None
    if function == "count":
        return f"count({quoted})" if quoted else "count(*)"
    if quoted is None:
        raise ValueError(f"aggregate {function!r} needs a column")
    if function == "count_distinct":
        return f"count(DISTINCT {quoted})"
    if function in {"sum", "avg", "min", "max"}:
        return f"{function}({quoted})"
    raise ValueError(f"unknown aggregate function {function!r}")


class Binder:
    """Named placeholders for one query."""

    def __init__(self) -> None:
        self.parameters: dict[str, Any] = {}

    def bind(self, value: Any, prefix: str = "p") -> str:
        name = f"{prefix}{len(self.parameters)}"
        self.parameters[name] = value
        return f"%({name})s"


def where(conditions: list[str]) -> str:
    return (" WHERE " + " AND ".join(conditions)) if conditions else ""


def partition_condition(partition: Partition | None, binder: Binder, alias: str = "") -> list[str]:
    if partition is None:
        return []
    column = (alias + "." if alias else "") + quote_identifier(partition.column, "partition column")
    return [f"{column} = {binder.bind(partition.value, 'partition_')}"]


class PlanBuilder:
    """What a check type compiles against: the table, its partition, the dialect and the shared scan."""

    def __init__(
        self, source: str, dialect: Dialect, partition: Partition | None, *, fold_joins: bool = True
    ) -> None:
        self.source = source
        self.dialect = dialect
        self.partition = partition
        #: whether checks that need another table may join it into the scan (see :meth:`join`)
        self.fold_joins = fold_joins
        self.joins: dict[tuple[str, str, str], str] = {}
        self.scan_binder = Binder()
        self.scan_where = partition_condition(partition, self.scan_binder)
        # SQL expression -> (alias, aggregate, how per-group values combine, wrapper); identical
        # aggregates are computed once. ``combine`` None: not decomposable, so no grouped scan.
        self.entries: dict[str, tuple[str, str, str | None, str]] = {}

    def scan(self, aggregate: str, combine: str | None, wrapper: str = "{}") -> str:
        """Add ``wrapper(aggregate)`` to the shared scan (once); returns its column alias.

        :param combine: how per-group values combine (``count``, ``sum``, ``min``, ``max``), or ``None``.
        """
        expression = wrapper.format(aggregate)
        if expression not in self.entries:
            self.entries[expression] = (f"c{len(self.entries)}", aggregate, combine, wrapper)
        return self.entries[expression][0]

    def bind(self, value: Any) -> str:
        """A placeholder for ``value`` in the shared scan."""
        return self.scan_binder.bind(value)

    def join(self, parent: str, field: str, column: str) -> str:
        """Left-join ``parent``'s distinct ``field`` values to the scan on ``column``; the joined key.

        The joined side has one row per value, so every row of the table stays one row and every
        other aggregate of the scan is unchanged; the key is NULL where ``column`` has no parent. The
        join exposes one column, ``dq_parent_key``, so the scan's unqualified columns stay the table's.
        """
        key = (parent, field, column)
        if key not in self.joins:
            self.joins[key] = f"dq_parent_{len(self.joins)}"
        return f'{self.joins[key]}."dq_parent_key"'

    def scan_source(self) -> str:
        """The table with the scan's joins, if any."""
        joins = "".join(
            f' LEFT JOIN (SELECT DISTINCT {field} AS "dq_parent_key" FROM {parent}) AS {alias}'
            f' ON {alias}."dq_parent_key" = {column}'
            for (parent, field, column), alias in self.joins.items()
        )
        return self.source + joins

    def query(
        self,
        purpose: str,
        select: str,
        conditions: list[str] | None = None,
        alias: str = "",
        then: list[str] | None = None,
    ) -> Query:
        """``SELECT <select> FROM <table> [AS alias] WHERE <conditions> AND <partition> AND <then>``."""
        binder = Binder()
        partition = partition_condition(self.partition, binder, alias)
        everything = [*(conditions or []), *partition, *(then or [])]
        table = f"{self.source} AS {alias}" if alias else self.source
        return Query(purpose, f"SELECT {select} FROM {table}{where(everything)}", binder.parameters)

    def user_query(self, purpose: str, sql: str, parameters: dict[str, Any]) -> Query:
        """A custom query; ``%(partition_value)s`` is available in it when there is a partition."""
        bound = dict(parameters)
        if self.partition is not None and "%(partition_value)s" in sql:
            bound.setdefault("partition_value", self.partition.value)
        return Query(purpose, escape_percent(sql, keep=bound), bound)


def compile_checks(
    table: str,
    checks: list[Check],
    dialect: Dialect,
    partition: Partition | None = None,
    *,
    schema: str | None = None,
    fold_joins: bool = True,
) -> Plan:
    """Compile ``checks`` on ``schema.table`` into a :class:`Plan`.

    Each check's type (:mod:`airflow_sales_provider.checks.types`) says what it adds to the shared
    scan and which query of its own it needs; this function assembles the scan.

    :param table: the table name (validated and quoted here).
    :param checks: validated checks from :func:`~airflow_sales_provider.checks.spec.parse_spec`.
    :param dialect: the warehouse dialect (freshness arithmetic differs).
    :param partition: optional ``column = value`` filter applied to every check on this table.
    :param schema: the table's schema, if any.
    :param fold_joins: let ``relationships`` join their parent into the scan (one scan of the table
        instead of one more per relationship); ``False`` gives each its own anti-join.
    """
    source = quote_qualified(schema, table, what="table")
    build = PlanBuilder(source, dialect, partition, fold_joins=fold_joins)
    compiled: list[CompiledCheck] = []
    for check in checks:
        item = CompiledCheck(check)
        check.definition.compile(item, build)
        compiled.append(item)

    source, entries = build.scan_source(), build.entries
    scan_query = None
    aliases = [alias for alias, _, _, _ in entries.values()]
    # A distinct count shares the scan by grouping it: GROUP BY the column, every aggregate per group,
    # then one outer row that combines the groups (sum of counts, min of mins...) and counts them.
    grouped = next((c for c in compiled if c.check.definition.groups_scan), None)
    if grouped is not None and entries and all(combine for _, _, combine, _ in entries.values()):
        key = quote_identifier(grouped.check.params["column"], "column")
        grouped.query = None
        grouped.scan_columns["distinct"] = f"c{len(entries)}"
        aliases.append(grouped.scan_columns["distinct"])
        inner = ", ".join(f"{aggregate} AS {alias}" for alias, aggregate, _, _ in entries.values())
        outer = [
            f"{wrapper.format(_COMBINE[combine].format(alias))} AS {alias}"
            for alias, _, combine, wrapper in entries.values()
            if combine
        ]
        outer.append(f"count(g) AS {grouped.scan_columns['distinct']}")
        sql = (
            "SELECT\n  " + ",\n  ".join(outer) + f"\nFROM (SELECT {key} AS g, {inner} FROM {source}"
            f"{where(build.scan_where)} GROUP BY {key}) AS grouped"
        )
        scan_query = Query(SCAN, sql, build.scan_binder.parameters)
    elif entries:
        select = ",\n  ".join(f"{expression} AS {alias}" for expression, (alias, *_) in entries.items())
        sql = f"SELECT\n  {select}\nFROM {source}{where(build.scan_where)}"
        scan_query = Query(SCAN, sql, build.scan_binder.parameters)
    unique_keys = None
    if dialect.unique_keys_sql and any(c.type == "unique" for c in checks):
        unique_keys = Query("unique_keys", dialect.unique_keys_sql, {"table": build.source})
    return Plan(
        table=build.source,
        scan=scan_query,
        scan_aliases=aliases,
        checks=compiled,
        unique_keys=unique_keys,
        folded=bool(build.joins),
    )
