"""Run one Athena statement: DDL against the Glue catalog, SELECT/WITH with DuckDB over S3 objects.

A query reads only the objects of the partitions its WHERE clause keeps, downloads them through the
S3 API into a per-query scratch folder (DuckDB never reaches the network and loads no extension
from it), counts their bytes as ``DataScannedInBytes``, and runs the translated SQL on views that
give each Glue table its columns and partition values.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_sales_provider.sandbox.athena import sql as athena_sql
from airflow_sales_provider.sandbox.athena.catalog import Catalog, Partition, S3Object, Table, split_s3_uri
from airflow_sales_provider.sandbox.athena.errors import AthenaQueryError, QueryCancelled
from airflow_sales_provider.sandbox.athena.results import column_info, csv_line, result_rows, to_text

_DOWNLOAD_THREADS = 8
#: DuckDB settings: no extension is ever installed or auto-loaded from the network (the Python wheel
#: links parquet and json in), and each query gets a bounded share of the machine.
_DUCKDB_CONFIG: dict[str, Any] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "threads": 2,
    "memory_limit": "2GB",
}


@dataclass
class Scan:
    """Progress of one query, shared with the API thread that reports it."""

    bytes_scanned: int = 0
    cutoff: int | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    cutoff_hit: bool = False
    connection: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, size: int) -> None:
        with self.lock:
            self.bytes_scanned += size
            if self.cutoff is not None and self.bytes_scanned > self.cutoff:
                self.cutoff_hit = True
                self.cancelled.set()

    def check(self) -> None:
        if self.cancelled.is_set():
            raise QueryCancelled()


@dataclass
class Outcome:
    statement_type: str  # DML | DDL
    columns: list[dict[str, Any]] = field(default_factory=list)
    rows: list[list[str | None]] = field(default_factory=list)
    text_output: str | None = None  # DDL statements write a .txt result instead of a CSV
    header_in_rows: bool = False  # canned rows (moto's static results) carry their own header row

    def csv(self) -> bytes:
        header = [] if self.header_in_rows else [csv_line([c["Name"] for c in self.columns])]
        return "".join(header + [csv_line(row) for row in self.rows]).encode("utf-8")

    @property
    def row_count(self) -> int:
        """Rows of GetQueryResults, the header row included."""
        return len(self.rows) + (0 if self.header_in_rows else 1)

    def result_rows(self, start: int, size: int) -> list[dict[str, Any]]:
        """One page of GetQueryResults rows (the header first, as Athena pages it)."""
        if self.header_in_rows:
            return result_rows(None, self.rows[start : start + size])
        header = [c["Name"] for c in self.columns] if start == 0 else None
        first = max(start - 1, 0)
        return result_rows(header, self.rows[first : start + size - 1])


def run_statement(
    sql: str, database: str | None, catalog: Catalog, scan: Scan, scratch_root: Path
) -> Outcome:
    statement = athena_sql.parse(sql, database)
    if statement.kind == "SELECT":
        return _select(statement.tree, database, catalog, scan, scratch_root)
    from airflow_sales_provider.sandbox.athena import ddl

    return Outcome("DDL", text_output=ddl.run(statement, catalog))


# --- SELECT ---------------------------------------------------------------------------------------------


def _select(tree: Any, database: str | None, catalog: Catalog, scan: Scan, scratch_root: Path) -> Outcome:
    import duckdb

    refs = athena_sql.tables_read(tree, database)
    tables = {(ref.database, ref.name): catalog.table(ref.database, ref.name, ref.where) for ref in refs}
    scratch = Path(tempfile.mkdtemp(prefix="query-", dir=scratch_root))
    connection = duckdb.connect(":memory:", config=dict(_DUCKDB_CONFIG))
    scan.connection = connection
    sources: dict[str, str] = {}  # scratch file -> the s3:// object it holds, for error messages
    try:
        try:
            connection.execute(f"SET temp_directory = '{scratch / 'spill'}'")
            for ref in refs:
                table = tables[(ref.database, ref.name)]
                partitions = _partitions_to_read(connection, tree, ref, table, catalog)
                files = _download(catalog, table, partitions, scratch, scan, sources)
                _create_view(connection, table, files)
            athena_sql.rename_tables(refs)
            scan.check()
            relation = connection.execute(athena_sql.to_duckdb(tree))
            names = [d[0] for d in relation.description or []]
            rows = relation.fetchall()
            types = [str(d[1]) for d in relation.description or []]
        except duckdb.InterruptException:
            raise QueryCancelled() from None
        except duckdb.Error as exc:
            scan.check()
            raise translate_duckdb_error(exc, tree, sources) from None
        columns = [column_info(name, type_) for name, type_ in zip(names, types, strict=True)]
        return Outcome("DML", columns=columns, rows=[[to_text(v) for v in row] for row in rows])
    finally:
        scan.connection = None
        connection.close()
        shutil.rmtree(scratch, ignore_errors=True)


def _partitions_to_read(
    connection: Any, tree: Any, ref: Any, table: Table, catalog: Catalog
) -> list[Partition]:
    if not table.partition_keys:
        return [Partition({}, table.location)]
    partitions = catalog.partitions(table)
    keys = [k for k, _ in table.partition_keys]
    predicate = athena_sql.partition_predicate(tree, ref, keys, [c for c, _ in table.columns])
    if predicate is None or not partitions:
        return partitions
    casts = ", ".join(
        f"TRY_CAST(v{i} AS {athena_sql.duckdb_type(t)}) AS {_quote(k)}"
        for i, (k, t) in enumerate(table.partition_keys)
    )
    values = ", ".join(
        "(" + ", ".join([str(n)] + [_literal(p.values.get(k)) for k in keys]) + ")"
        for n, p in enumerate(partitions)
    )
    names = ", ".join(["n"] + [f"v{i}" for i in range(len(keys))])
    try:
        kept = connection.execute(
            f"SELECT n FROM (SELECT n, {casts} FROM (VALUES {values}) AS p({names})) WHERE {predicate}"
        ).fetchall()
    except Exception:  # a predicate DuckDB cannot evaluate on its own: read every partition
        return partitions
    return [partitions[n] for (n,) in kept]


def _download(
    catalog: Catalog,
    table: Table,
    partitions: list[Partition],
    scratch: Path,
    scan: Scan,
    sources: dict[str, str],
) -> list[tuple[Partition, list[Path]]]:
    listed = [(p, catalog.objects(p.location)) for p in partitions]
    folder = scratch / f"{table.database}.{table.name}"
    folder.mkdir()
    counter = iter(range(1 << 62))
    jobs = [(p, obj, folder / f"{next(counter)}{_suffix(obj.key)}") for p, objs in listed for obj in objs]
    sources.update({str(path): f"s3://{obj.bucket}/{obj.key}" for _, obj, path in jobs})
    s3 = catalog.s3

    def fetch(job: tuple[Partition, S3Object, Path]) -> None:
        scan.check()
        _, obj, path = job
        body = s3.get_object(Bucket=obj.bucket, Key=obj.key)["Body"]
        size = 0
        with path.open("wb") as out:
            for chunk in iter(lambda: body.read(1 << 20), b""):
                out.write(chunk)
                size += len(chunk)
        scan.add(size)
        scan.check()

    with ThreadPoolExecutor(_DOWNLOAD_THREADS) as pool:
        for _ in pool.map(fetch, jobs):
            pass
    by_partition: dict[int, list[Path]] = {}
    for p, _, path in jobs:
        by_partition.setdefault(id(p), []).append(path)
    return [(p, by_partition.get(id(p), [])) for p in partitions]


def _suffix(key: str) -> str:
    name = key.rsplit("/", 1)[-1].lower()
    for suffix in (".gz", ".gzip", ".zst", ".snappy.parquet", ".parquet"):
        if name.endswith(suffix):
            return ".gz" if suffix == ".gzip" else suffix
    return ".data"


def _create_view(connection: Any, table: Table, files: list[tuple[Partition, list[Path]]]) -> None:
    columns = [(name, athena_sql.duckdb_type(type_)) for name, type_ in table.columns]
    keys = [(name, athena_sql.duckdb_type(type_)) for name, type_ in table.partition_keys]
    selects = []
    for partition, paths in files:
        if not paths:
            continue
        source = _reader(table, columns, paths)
        present = _parquet_columns(connection, source) if table.format == "parquet" else None
        parts = [_project(table, name, type_, present) for name, type_ in columns]
        parts += [f"TRY_CAST({_literal(partition.values.get(k))} AS {t}) AS {_quote(k)}" for k, t in keys]
        selects.append(f"SELECT {', '.join(parts)} FROM {source}")
    if not selects:  # an empty table still has its columns
        empty = [f"CAST(NULL AS {t}) AS {_quote(n)}" for n, t in columns + keys]
        selects = [f"SELECT {', '.join(empty)} WHERE false"]
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(table.database)}")
    connection.execute(
        f"CREATE OR REPLACE VIEW {_quote(table.database)}.{_quote(table.name)} AS "
        + " UNION ALL ".join(selects)
    )


def _reader(table: Table, columns: list[tuple[str, str]], paths: list[Path]) -> str:
    files = "[" + ", ".join(_literal(str(p)) for p in paths) + "]"
    if table.format == "parquet":
        return f"read_parquet({files}, union_by_name = true)"
    if table.format == "json":
        spec = ", ".join(f"{_literal(n)}: {_literal(t)}" for n, t in columns)
        ignore = "true" if table.ignore_malformed else "false"
        options = f"format = 'newline_delimited', columns = {{{spec}}}, ignore_errors = {ignore}"
        return f"read_json({files}, {options})"
    # Text: every field read as text and cast as Hive does (a value that does not parse is NULL). Short
    # rows are padded with NULLs; DuckDB pads quoted multi-line rows only in its single-threaded reader.
    spec = ", ".join(f"{_literal(n)}: 'VARCHAR'" for n, _ in columns)
    csv_options = [
        f"columns = {{{spec}}}",
        "header = false",
        f"skip = {table.skip_header_lines}",
        f"delim = {_literal(table.delimiter)}",
        f"quote = {_literal(table.quote)}",
        f"escape = {_literal(table.escape)}",
        r"nullstr = '\N'",
        "null_padding = true",
        "strict_mode = false",
        "auto_detect = false",
        f"parallel = {'false' if table.quote else 'true'}",
    ]
    return f"read_csv({files}, {', '.join(csv_options)})"


def _project(table: Table, name: str, type_: str, present: dict[str, str] | None) -> str:
    if table.format == "csv" and type_ != "VARCHAR":
        return f"TRY_CAST(TRIM({_quote(name)}) AS {type_}) AS {_quote(name)}"
    if present is not None:  # Parquet columns are matched by name, case-insensitively; missing ones are NULL
        if name not in present:
            return f"CAST(NULL AS {type_}) AS {_quote(name)}"
        return f"CAST({_quote(present[name])} AS {type_}) AS {_quote(name)}"
    return _quote(name)


def _parquet_columns(connection: Any, source: str) -> dict[str, str]:
    described = connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    return {str(row[0]).lower(): str(row[0]) for row in described}


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(value: str | None) -> str:
    if value is None:
        return "NULL"
    return "'" + value.replace("'", "''") + "'"


# --- errors -------------------------------------------------------------------------------------------------


def translate_duckdb_error(exc: Exception, tree: Any, sources: dict[str, str]) -> AthenaQueryError:
    """A DuckDB error as Athena (Trino) would word it, with the line and column in the original SQL and
    the S3 object (not the scratch file) a data error was found in."""
    message = str(exc).split("\n", 1)[0]
    for path, uri in sources.items():
        message = message.replace(path, uri)
    message = re.sub(r"^[A-Za-z ]+Error: ", "", message)
    column = re.search(r'Referenced column "([^"]+)" not found', message)
    if column:
        where = _column_position(tree, column.group(1))
        return AthenaQueryError("COLUMN_NOT_FOUND", f"{where}Column '{column.group(1)}' cannot be resolved")
    table_column = re.search(r'Table "([^"]+)" does not have a column named "([^"]+)"', message)
    if table_column:
        where = _column_position(tree, table_column.group(2))
        return AthenaQueryError(
            "COLUMN_NOT_FOUND",
            f"{where}Column '{table_column.group(1)}.{table_column.group(2)}' cannot be resolved",
        )
    name = type(exc).__name__
    if "No function matches" in message or "Cannot compare" in message or "Cannot mix" in message:
        return AthenaQueryError("TYPE_MISMATCH", message)
    if name == "ConversionException":
        return AthenaQueryError("INVALID_CAST_ARGUMENT", message)
    if name == "CatalogException" and "Function" in message:
        return AthenaQueryError("FUNCTION_NOT_FOUND", message)
    if name in ("BinderException", "ParserException", "CatalogException"):
        return AthenaQueryError("SYNTAX_ERROR", message)
    if "CSV Error" in message or "Malformed JSON" in message or "Invalid Input Error" in str(exc):
        return AthenaQueryError("HIVE_BAD_DATA", message)
    if name == "OutOfMemoryException":
        return AthenaQueryError("EXCEEDED_LOCAL_MEMORY_LIMIT", message)
    return AthenaQueryError("GENERIC_INTERNAL_ERROR", message, user_error=False)


def _column_position(tree: Any, name: str) -> str:
    from sqlglot import exp

    for column in tree.find_all(exp.Column):
        if column.name.lower() == name.lower():
            return athena_sql.position(column)
    return ""


def output_key(output_location: str, query_execution_id: str, suffix: str) -> tuple[str, str]:
    bucket, prefix = split_s3_uri(output_location)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, f"{prefix}{query_execution_id}{suffix}"
