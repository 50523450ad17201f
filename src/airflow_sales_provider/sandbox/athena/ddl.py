"""Athena DDL on the Glue catalog: CREATE DATABASE, CREATE EXTERNAL TABLE, DROP, MSCK REPAIR TABLE.

A table created here is a Glue table like one made with ``glue.create_table`` (same SerDe names and
parameters as Athena writes), so either way of making tables reads the same.
"""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.sandbox.athena import sql as athena_sql
from airflow_sales_provider.sandbox.athena.catalog import split_s3_uri
from airflow_sales_provider.sandbox.athena.errors import AthenaQueryError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_sales_provider.sandbox.athena.catalog import Catalog

LAZY_SIMPLE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
OPEN_CSV = "org.apache.hadoop.hive.serde2.OpenCSVSerde"
JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
TEXT_INPUT = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

#: What ``STORED AS x`` means for Glue's StorageDescriptor.
STORAGE = {
    "TEXTFILE": (TEXT_INPUT, TEXT_OUTPUT, LAZY_SIMPLE),
    "PARQUET": (PARQUET_INPUT, PARQUET_OUTPUT, PARQUET_SERDE),
    "JSON": (TEXT_INPUT, TEXT_OUTPUT, JSON_SERDE),
}


def run(statement: athena_sql.Statement, catalog: Catalog) -> str:
    """Run one DDL statement; return the text Athena writes as its ``.txt`` result (often empty)."""
    assert statement.target is not None
    database, table = statement.target
    glue = catalog.glue
    if statement.kind == "CREATE_DATABASE":
        exists = glue.exceptions.AlreadyExistsException
        with _unless_if_exists(
            statement, exists, "SCHEMA_ALREADY_EXISTS", f"Schema '{database}' already exists"
        ):
            glue.create_database(DatabaseInput={"Name": database})
        return ""
    if statement.kind == "DROP_DATABASE":
        missing = glue.exceptions.EntityNotFoundException
        with _unless_if_exists(statement, missing, "SCHEMA_NOT_FOUND", f"Schema '{database}' does not exist"):
            glue.delete_database(Name=database)
        return ""
    if statement.kind == "DROP_TABLE":
        message = f"Table 'awsdatacatalog.{database}.{table}' does not exist"
        with _unless_if_exists(
            statement, glue.exceptions.EntityNotFoundException, "TABLE_NOT_FOUND", message
        ):
            glue.delete_table(DatabaseName=database, Name=table)
        return ""
    if statement.kind == "CREATE_TABLE":
        return _create_table(statement, catalog)
    if statement.kind == "MSCK":
        return repair_partitions(catalog, database, table)
    raise AthenaQueryError("NOT_SUPPORTED", statement.kind)  # pragma: no cover - parse() filters


def _create_table(statement: athena_sql.Statement, catalog: Catalog) -> str:
    from sqlglot import exp

    assert statement.target is not None
    database, name = statement.target
    tree = statement.tree
    columns = [
        {"Name": c.name.lower(), "Type": athena_sql.hive_type(c.args["kind"])}
        for c in tree.this.expressions
        if isinstance(c, exp.ColumnDef)
    ]
    properties = tree.args.get("properties")
    props = list(properties.expressions) if properties is not None else []
    location = None
    partition_keys: list[dict[str, str]] = []
    serde, serde_params = LAZY_SIMPLE, {"field.delim": "\x01", "serialization.format": "\x01"}
    stored = "TEXTFILE"
    table_params: dict[str, str] = {"EXTERNAL": "TRUE"}
    external = False
    for prop in props:
        if isinstance(prop, exp.ExternalProperty):
            external = True
        elif isinstance(prop, exp.LocationProperty):
            location = prop.this.name
        elif isinstance(prop, exp.PartitionedByProperty):
            partition_keys = [
                {"Name": c.name.lower(), "Type": athena_sql.hive_type(c.args["kind"])}
                for c in prop.this.expressions
            ]
        elif isinstance(prop, exp.RowFormatDelimitedProperty):
            fields = prop.args.get("fields")
            delimiter = _unescape(fields.name) if fields is not None else "\x01"
            serde_params = {"field.delim": delimiter, "serialization.format": delimiter}
            escaped = prop.args.get("escaped")
            if escaped is not None:
                serde_params["escape.delim"] = _unescape(escaped.name)
        elif isinstance(prop, exp.RowFormatSerdeProperty):
            serde = prop.this.name
            extra = prop.args.get("serde_properties")
            serde_params = {p.this.name: p.args["value"].name for p in (extra.expressions if extra else [])}
        elif isinstance(prop, exp.FileFormatProperty):
            stored = prop.this.name.upper()
            if stored not in STORAGE:
                raise AthenaQueryError(
                    "NOT_SUPPORTED", f"STORED AS {stored} (the sandbox reads TEXTFILE, JSON, PARQUET)"
                )
            if stored != "TEXTFILE":
                serde = STORAGE[stored][2]
                serde_params = {}
        elif isinstance(prop, exp.Property):
            table_params[prop.this.name] = prop.args["value"].name
    if not external:
        raise AthenaQueryError(
            "NOT_SUPPORTED",
            "line 1:1: Only CREATE EXTERNAL TABLE is supported by the sandbox engine (no CTAS)",
        )
    if not location:
        raise AthenaQueryError(
            "SYNTAX_ERROR", "line 1:1: CREATE EXTERNAL TABLE needs LOCATION 's3://bucket/prefix/'"
        )
    split_s3_uri(location)
    input_format, output_format, _ = STORAGE[stored]
    if "parquet" in serde.lower():
        input_format, output_format = STORAGE["PARQUET"][:2]
    table_input = {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": table_params,
        "PartitionKeys": partition_keys,
        "StorageDescriptor": {
            "Columns": columns,
            "Location": location,
            "InputFormat": input_format,
            "OutputFormat": output_format,
            "SerdeInfo": {"SerializationLibrary": serde, "Parameters": serde_params},
        },
    }
    glue = catalog.glue
    try:
        glue.get_database(Name=database)
    except glue.exceptions.EntityNotFoundException:
        raise AthenaQueryError("SCHEMA_NOT_FOUND", f"line 1:1: Schema '{database}' does not exist") from None
    message = f"Table 'awsdatacatalog.{database}.{name}' already exists"
    with _unless_if_exists(statement, glue.exceptions.AlreadyExistsException, "ALREADY_EXISTS", message):
        glue.create_table(DatabaseName=database, TableInput=table_input)
    return ""


@contextlib.contextmanager
def _unless_if_exists(
    statement: athena_sql.Statement, error: type[Exception], reason: str, message: str
) -> Iterator[None]:
    """Athena's error when the object is there (or is not), unless the statement says IF [NOT] EXISTS."""
    try:
        yield
    except error:
        if not statement.if_exists:
            raise AthenaQueryError(reason, message) from None


def _unescape(text: str) -> str:
    return text.encode("utf-8").decode("unicode_escape") if "\\" in text else text


def repair_partitions(catalog: Catalog, database: str, name: str) -> str:
    """Register every Hive-style folder (``key=value/`` per partition key, in order) that Glue lacks."""
    table = catalog.table(database, name)
    keys = [k for k, _ in table.partition_keys]
    if not keys:
        raise AthenaQueryError(
            "NOT_SUPPORTED", f"Table 'awsdatacatalog.{database}.{name}' is not partitioned: nothing to repair"
        )
    known = {tuple(p.values[k] for k in keys) for p in catalog.partitions(table)}
    base = table.location.rstrip("/") + "/"
    pattern = re.compile("".join(rf"{re.escape(k)}=([^/]+)/" for k in keys), re.IGNORECASE)
    found: dict[tuple[str, ...], str] = {}
    for obj in catalog.objects(table.location):
        relative = obj.key[len(split_s3_uri(base)[1]) :]
        match = pattern.match(relative)
        if match:
            values = tuple(match.groups())
            found.setdefault(values, base + match.group(0))
    missing = [(values, location) for values, location in sorted(found.items()) if values not in known]
    descriptor = _descriptor(catalog, table)
    for start in range(0, len(missing), 100):  # Glue takes up to 100 partitions per call
        batch = missing[start : start + 100]
        catalog.glue.batch_create_partition(
            DatabaseName=database,
            TableName=name,
            PartitionInputList=[
                {"Values": list(values), "StorageDescriptor": {**descriptor, "Location": location}}
                for values, location in batch
            ],
        )
    lines = (
        ["Partitions not in metastore:\t" + "\t".join(_label(name, keys, v) for v, _ in missing)]
        if missing
        else []
    )
    lines += [f"Repair: Added partition to metastore {_label(name, keys, v)}" for v, _ in missing]
    return "\n".join(lines) + ("\n" if lines else "")


def _descriptor(catalog: Catalog, table: Any) -> dict[str, Any]:
    raw = catalog.glue.get_table(DatabaseName=table.database, Name=table.name)["Table"]["StorageDescriptor"]
    return {k: v for k, v in raw.items() if k in ("Columns", "InputFormat", "OutputFormat", "SerdeInfo")}


def _label(table: str, keys: list[str], values: tuple[str, ...]) -> str:
    return f"{table}:" + "/".join(f"{k}={v}" for k, v in zip(keys, values, strict=True))
