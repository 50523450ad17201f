"""Athena SQL in, DuckDB SQL out: parse (Trino for queries, Hive for DDL), find the tables a query
reads, the predicates that prune their partitions, and Athena-like error text. Pure sqlglot."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from airflow_sales_provider.sandbox.athena.errors import AthenaQueryError

_DDL_START = re.compile(r"^\s*(CREATE|DROP|ALTER|MSCK|SHOW|DESCRIBE)\b", re.IGNORECASE)
_MSCK = re.compile(r"^\s*MSCK\s+REPAIR\s+TABLE\s+([`\"\w.]+)\s*;?\s*$", re.IGNORECASE)


@dataclass
class TableRef:
    """One table a query reads, with the WHERE conjuncts that only look at its partition columns."""

    database: str
    name: str
    where: str  # "line L:C: " of the reference, for error messages
    nodes: list[Any] = field(default_factory=list)
    aliases: set[str] = field(default_factory=set)


@dataclass
class Statement:
    kind: str  # SELECT | CREATE_DATABASE | CREATE_TABLE | DROP_TABLE | DROP_DATABASE | MSCK
    tree: Any = None
    target: tuple[str, str] | None = None  # (database, table) for DDL
    if_exists: bool = False


def strip_comments_and_semicolon(sql: str) -> str:
    return sql.strip().rstrip(";").strip()


def parse(sql: str, default_database: str | None) -> Statement:
    """Parse one Athena statement; raise :class:`AthenaQueryError` the way Athena words it."""
    import sqlglot
    from sqlglot import exp

    text = strip_comments_and_semicolon(sql)
    msck = _MSCK.match(text)
    if msck:
        return Statement("MSCK", target=split_name(msck.group(1), default_database))
    dialect = "athena" if _DDL_START.match(_without_leading_comments(text)) else "trino"
    try:
        trees = [t for t in sqlglot.parse(text, read=dialect) if t is not None]
    except sqlglot.errors.ParseError as exc:
        error = exc.errors[0] if exc.errors else {}
        near = error.get("highlight") or ""
        raise AthenaQueryError(
            "SYNTAX_ERROR",
            f"line {error.get('line', 1)}:{error.get('col', 1)}: mismatched input '{near}'. "
            f"{error.get('description', str(exc))}",
        ) from None
    if len(trees) != 1:
        raise AthenaQueryError("SYNTAX_ERROR", f"Only one sql statement is allowed. Got: {len(trees)}")
    tree = trees[0]
    if isinstance(tree, exp.Query):
        return Statement("SELECT", tree=tree)
    if isinstance(tree, exp.Create):
        kind = str(tree.args.get("kind") or "").upper()
        if kind in ("DATABASE", "SCHEMA"):
            return Statement(
                "CREATE_DATABASE",
                tree=tree,
                target=(tree.this.name.lower(), ""),
                if_exists=bool(tree.args.get("exists")),
            )
        if kind == "TABLE" and isinstance(tree.this, exp.Schema):
            table = tree.this.this
            return Statement(
                "CREATE_TABLE",
                tree=tree,
                target=split_table(table, default_database),
                if_exists=bool(tree.args.get("exists")),
            )
    if isinstance(tree, exp.Drop):
        kind = str(tree.args.get("kind") or "").upper()
        named = tree.this if tree.this is not None else (tree.args.get("tables") or [None])[0]
        if kind == "TABLE" and named is not None:
            return Statement(
                "DROP_TABLE",
                tree=tree,
                target=split_table(named, default_database),
                if_exists=bool(tree.args.get("exists")),
            )
        if kind in ("DATABASE", "SCHEMA") and named is not None:
            return Statement(
                "DROP_DATABASE",
                tree=tree,
                target=(named.name.lower(), ""),
                if_exists=bool(tree.args.get("exists")),
            )
    first = text.split(None, 1)[0] if text else ""
    raise AthenaQueryError(
        "NOT_SUPPORTED",
        f"line 1:1: the sandbox engine runs SELECT/WITH queries, CREATE DATABASE, CREATE EXTERNAL TABLE, "
        f"DROP TABLE/DATABASE and MSCK REPAIR TABLE; got '{first}'",
    )


def is_ddl(sql: str) -> bool:
    """Whether Athena calls the statement DDL (its StatementType, and a ``.txt`` result)."""
    return bool(_DDL_START.match(_without_leading_comments(sql.strip())))


def _without_leading_comments(text: str) -> str:
    return re.sub(r"^(\s*(--[^\n]*\n|/\*.*?\*/))*", "", text, flags=re.DOTALL)


def split_name(name: str, default_database: str | None) -> tuple[str, str]:
    parts = [p.strip('`"').lower() for p in name.split(".")]
    if len(parts) == 1:
        if not default_database:
            raise AthenaQueryError(
                "SCHEMA_NOT_FOUND", "line 1:1: Schema must be specified when session schema is not set"
            )
        return default_database.lower(), parts[0]
    return parts[-2], parts[-1]


def split_table(table: Any, default_database: str | None) -> tuple[str, str]:
    database = (table.db or default_database or "").lower()
    if not database:
        raise AthenaQueryError(
            "SCHEMA_NOT_FOUND", f"{position(table)}Schema must be specified when session schema is not set"
        )
    return database, table.name.lower()


def position(node: Any) -> str:
    """``line L:C: `` of a node, as Athena starts its messages (empty when sqlglot kept no position).

    A table's position is that of its first name part (``sales`` in ``sales.orders``), as in Trino."""
    from sqlglot import exp

    if isinstance(node, exp.Table):
        node = next((node.args[k] for k in ("catalog", "db", "this") if node.args.get(k) is not None), node)
    meta = getattr(node, "meta", None) or getattr(getattr(node, "this", None), "meta", None) or {}
    if "line" in meta and "col" in meta:
        start = meta["col"] - (meta.get("end", 0) - meta.get("start", 0))
        return f"line {meta['line']}:{max(start, 1)}: "
    return ""


def tables_read(tree: Any, default_database: str | None) -> list[TableRef]:
    """The catalog tables a query reads (CTE names left out), each once, with every node naming it."""
    from sqlglot import exp

    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    refs: dict[tuple[str, str], TableRef] = {}
    for table in tree.find_all(exp.Table):
        if not table.name or isinstance(table.this, exp.Func):  # UNNEST(...), table functions
            continue
        if not table.db and table.name.lower() in ctes:
            continue
        database, name = split_table(table, default_database)
        ref = refs.setdefault((database, name), TableRef(database, name, position(table)))
        ref.nodes.append(table)
        ref.aliases.add(table.alias_or_name.lower())
    return list(refs.values())


def rename_tables(refs: list[TableRef]) -> None:
    """Point every reference at the engine's view ``"<database>"."<table>"`` (the catalog part dropped)."""
    from sqlglot import exp

    for ref in refs:
        for node in ref.nodes:
            node.set("catalog", None)
            node.set("db", exp.to_identifier(ref.database, quoted=True))
            node.set("this", exp.to_identifier(ref.name, quoted=True))


def partition_predicate(
    tree: Any, ref: TableRef, partition_keys: list[str], data_columns: list[str]
) -> str | None:
    """DuckDB SQL of the WHERE conjuncts that look only at ``ref``'s partition columns, or ``None``.

    Used to choose the partitions to read, as Athena prunes: a query that filters one day reads that
    day's objects only. Conjuncts that cannot be attributed to the table safely are ignored (which only
    means reading more, never fewer, partitions).
    """
    from sqlglot import exp

    keys = set(partition_keys)
    kept: list[str] = []
    for node in ref.nodes:
        select = node.find_ancestor(exp.Select)
        where = select.args.get("where") if select is not None else None
        if where is None:
            return None  # one unfiltered reference reads every partition
        conjuncts = list(where.this.flatten()) if isinstance(where.this, exp.And) else [where.this]
        mine = []
        for conjunct in conjuncts:
            if conjunct.find(exp.Subquery, exp.Select, exp.AggFunc, exp.Window):
                continue
            columns = list(conjunct.find_all(exp.Column))
            if not columns:
                continue
            if all(_belongs(column, ref, node, keys, data_columns) for column in columns):
                copy = conjunct.copy()
                for column in copy.find_all(exp.Column):
                    column.set("table", None)
                mine.append(copy.sql(dialect="duckdb"))
        if not mine:
            return None
        kept.append(" AND ".join(f"({m})" for m in mine))
    return " OR ".join(f"({k})" for k in kept) if kept else None


def _belongs(column: Any, ref: TableRef, node: Any, keys: set[str], data_columns: list[str]) -> bool:
    name = column.name.lower()
    if name not in keys:
        return False
    qualifier = column.table.lower()
    if qualifier:
        return qualifier == node.alias_or_name.lower()
    # Unqualified: only when this table is the only one in its SELECT's FROM/JOINs.
    from sqlglot import exp

    select = node.find_ancestor(exp.Select)
    sources = [t for t in select.find_all(exp.Table) if t.find_ancestor(exp.Select) is select]
    return len(sources) == 1 and name not in data_columns


def to_duckdb(tree: Any) -> str:
    return str(tree.sql(dialect="duckdb"))


def duckdb_type(hive_type: str) -> str:
    """A Glue/Hive column type as DuckDB spells it (``string`` -> ``VARCHAR``, ``struct<a:int>`` -> ...)."""
    from sqlglot import exp

    try:
        return str(exp.DataType.build(hive_type, dialect="hive").sql(dialect="duckdb"))
    except Exception:
        raise AthenaQueryError("HIVE_INVALID_METADATA", f"unsupported column type {hive_type!r}") from None


def hive_type(node: Any) -> str:
    """A DDL column type as Glue stores it (``INT`` -> ``int``, ``STRING`` -> ``string``)."""
    return str(node.sql(dialect="hive")).lower().replace(" ", "")
