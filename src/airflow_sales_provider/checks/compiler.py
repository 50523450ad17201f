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

What gets its own query, each as cheap as the database allows:

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
#: Check types whose aggregates go into the shared scan.
SCAN_TYPES = frozenset(
    {"row_count", "not_null", "accepted_values", "range", "freshness", "expression", "change"}
)


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
    """A check, the scan columns it reads (role -> alias) and its own query, if any."""

    check: Check
    scan_columns: dict[str, str] = field(default_factory=dict)
    query: Query | None = None


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
        own = [c.query for c in self.checks if c.query is not None]
        first = [q for q in (self.unique_keys, self.scan) if q is not None]
        return first + own


def escape_percent(sql: str, keep: Iterable[str] = ()) -> str:
    """Escape ``%`` in user SQL (``LIKE 'A%'``, ``a % 2``) except ``%(name)s`` for names in ``keep``."""
    names = set(keep)

    def swap(match: re.Match[str]) -> str:
        return match.group(0) if match.group(1) in names else "%%" + match.group(0)[1:]

    return re.sub(r"%(?:\((\w+)\)s)?", swap, sql)


def _user_query(purpose: str, sql: str, parameters: dict[str, Any], partition: Partition | None) -> Query:
    """A custom query; ``%(partition_value)s`` is available in it when the operator has a partition."""
    bound = dict(parameters)
    if partition is not None and "%(partition_value)s" in sql:
        bound.setdefault("partition_value", partition.value)
    return Query(purpose, escape_percent(sql, keep=bound), bound)


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


class _Binder:
    """Named placeholders for one query."""

    def __init__(self) -> None:
        self.parameters: dict[str, Any] = {}

    def bind(self, value: Any, prefix: str = "p") -> str:
        name = f"{prefix}{len(self.parameters)}"
        self.parameters[name] = value
        return f"%({name})s"


def _where(conditions: list[str]) -> str:
    return (" WHERE " + " AND ".join(conditions)) if conditions else ""


def _partition_condition(partition: Partition | None, binder: _Binder, alias: str = "") -> list[str]:
    if partition is None:
        return []
    column = (alias + "." if alias else "") + quote_identifier(partition.column, "partition column")
    return [f"{column} = {binder.bind(partition.value, 'partition_')}"]


def compile_checks(
    table: str,
    checks: list[Check],
    dialect: Dialect,
    partition: Partition | None = None,
    *,
    schema: str | None = None,
) -> Plan:
    """Compile ``checks`` on ``schema.table`` into a :class:`Plan`.

    :param table: the table name (validated and quoted here).
    :param checks: validated checks from :func:`~airflow_sales_provider.checks.spec.parse_spec`.
    :param dialect: the warehouse dialect (freshness arithmetic differs).
    :param partition: optional ``column = value`` filter applied to every check on this table.
    :param schema: the table's schema, if any.
    """
    source = quote_qualified(schema, table, what="table")
    scan_binder = _Binder()
    scan_where = _partition_condition(partition, scan_binder)
    # SQL expression -> (alias, aggregate, how per-group values combine, wrapper); identical aggregates
    # are computed once. ``combine`` None: not decomposable, so the scan cannot be grouped (see below).
    entries: dict[str, tuple[str, str, str | None, str]] = {}

    def scan(aggregate: str, combine: str | None, wrapper: str = "{}") -> str:
        expression = wrapper.format(aggregate)
        if expression not in entries:
            entries[expression] = (f"c{len(entries)}", aggregate, combine, wrapper)
        return entries[expression][0]

    age = dialect.age_seconds_sql.replace("{expr}", "{}")
    compiled: list[CompiledCheck] = []
    for check in checks:
        p = check.params
        item = CompiledCheck(check)
        column = quote_identifier(p["column"], "column") if p.get("column") else None
        if check.type == "row_count":
            item.scan_columns["rows"] = scan("count(*)", "count")
        elif check.type == "not_null":
            item.scan_columns["rows"] = scan("count(*)", "count")
            item.scan_columns["non_null"] = scan(f"count({column})", "count")
        elif check.type == "accepted_values":
            placeholders = ", ".join(scan_binder.bind(v) for v in p["values"])
            outside = f"count(CASE WHEN {column} NOT IN ({placeholders}) THEN 1 END)"
            item.scan_columns["violations"] = scan(outside, "count")
        elif check.type == "range":
            if p.get("min") is not None:
                item.scan_columns["min"] = scan(f"min({column})", "min")
            if p.get("max") is not None:
                item.scan_columns["max"] = scan(f"max({column})", "max")
        elif check.type == "freshness":
            item.scan_columns["latest"] = scan(f"max({column})", "max")
            item.scan_columns["age_seconds"] = scan(f"max({column})", "max", age)
        elif check.type == "expression":
            condition = escape_percent(p["expression"])
            item.scan_columns["violations"] = scan(f"count(CASE WHEN NOT ({condition}) THEN 1 END)", "count")
        elif check.type in {"reconcile", "change"}:
            function = p["function"]
            combine = {"count": "count", "sum": "sum", "min": "min", "max": "max"}.get(function)
            item.scan_columns["value"] = scan(aggregate_sql(function, p.get("column")), combine)
            if check.type == "reconcile":
                item.query = _against_query(check, p["against"], partition)
        elif check.type == "unique":
            item.query = _unique_query(check, source, p["columns"], partition)
        elif check.type == "distinct_count":
            item.query = _distinct_query(check, source, p["column"], partition)
        elif check.type == "relationships":
            item.query = _relationships_query(check, source, p, partition)
        elif check.type == "sql":
            item.query = _user_query(check.name, p["sql"], p["parameters"], partition)
        else:  # pragma: no cover - parse_spec only lets known types through
            raise ValueError(f"unknown check type {check.type!r}")
        compiled.append(item)

    scan_query = None
    aliases = [alias for alias, _, _, _ in entries.values()]
    # A distinct count shares the scan by grouping it: GROUP BY the column, every aggregate per group,
    # then one outer row that combines the groups (sum of counts, min of mins...) and counts them.
    grouped = next((c for c in compiled if c.check.type == "distinct_count"), None)
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
            f"{_where(scan_where)} GROUP BY {key}) AS grouped"
        )
        scan_query = Query(SCAN, sql, scan_binder.parameters)
    elif entries:
        select = ",\n  ".join(f"{expression} AS {alias}" for expression, (alias, *_) in entries.items())
        sql = f"SELECT\n  {select}\nFROM {source}{_where(scan_where)}"
        scan_query = Query(SCAN, sql, scan_binder.parameters)
    unique_keys = None
    if dialect.unique_keys_sql and any(c.type == "unique" for c in checks):
        unique_keys = Query("unique_keys", dialect.unique_keys_sql, {"table": source})
    return Plan(
        table=source,
        scan=scan_query,
        scan_aliases=aliases,
        checks=compiled,
        unique_keys=unique_keys,
    )


def _unique_query(check: Check, source: str, columns: list[str], partition: Partition | None) -> Query:
    """Rows beyond the first per key (NULL keys ignored, as a UNIQUE constraint does).

    One column: ``count(k) - count(DISTINCT k)``, a single sort that stays fast on high-cardinality
    keys (a ``GROUP BY k HAVING count(*) > 1`` hash spills to disk there: 6x slower on 5 M keys).
    Several columns: ``GROUP BY`` the key and sum the surplus of the groups with more than one row.
    """
    binder = _Binder()
    conditions = _partition_condition(partition, binder)
    if len(columns) == 1:
        key = quote_identifier(columns[0], "column")
        sql = f"SELECT count({key}) - count(DISTINCT {key}) FROM {source}{_where(conditions)}"
        return Query(check.name, sql, binder.parameters)
    keys = ", ".join(quote_identifier(c, "column") for c in columns)
    conditions = [f"{quote_identifier(c, 'column')} IS NOT NULL" for c in columns] + conditions
    sql = (
        f"SELECT coalesce(sum(n - 1), 0) FROM ("
        f"SELECT count(*) AS n FROM {source}{_where(conditions)} GROUP BY {keys} HAVING count(*) > 1"
        f") AS duplicates"
    )
    return Query(check.name, sql, binder.parameters)


def _distinct_query(check: Check, source: str, column: str, partition: Partition | None) -> Query:
    binder = _Binder()
    quoted = quote_identifier(column, "column")
    conditions = [f"{quoted} IS NOT NULL", *_partition_condition(partition, binder)]
    sql = f"SELECT count(*) FROM (SELECT {quoted} FROM {source}{_where(conditions)} GROUP BY {quoted}) AS d"
    return Query(check.name, sql, binder.parameters)


def _relationships_query(
    check: Check, source: str, params: dict[str, Any], partition: Partition | None
) -> Query:
    binder = _Binder()
    child = "c." + quote_identifier(params["column"], "column")
    parent_schema, parent_table = params["to"]
    parent = quote_qualified(parent_schema, parent_table, what="to")
    field_ = "p." + quote_identifier(params["field"], "field")
    conditions = [f"{child} IS NOT NULL", *_partition_condition(partition, binder, alias="c")]
    conditions.append(f"NOT EXISTS (SELECT 1 FROM {parent} AS p WHERE {field_} = {child})")
    return Query(check.name, f"SELECT count(*) FROM {source} AS c{_where(conditions)}", binder.parameters)


def _against_query(check: Check, against: dict[str, Any], partition: Partition | None) -> Query:
    if "sql" in against:
        return _user_query(check.name, against["sql"], against.get("parameters") or {}, partition)
    binder = _Binder()
    schema, table = against["table"]
    conditions: list[str] = []
    if partition is not None and against.get("partition_column"):
        column = quote_identifier(against["partition_column"], "partition_column")
        conditions.append(f"{column} = {binder.bind(partition.value, 'partition_')}")
    aggregate = aggregate_sql(against["function"], against.get("column"))
    source = quote_qualified(schema, table, what="against.table")
    return Query(check.name, f"SELECT {aggregate} FROM {source}{_where(conditions)}", binder.parameters)
