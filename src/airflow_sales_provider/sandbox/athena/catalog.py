"""The Glue Data Catalog on moto as the engine's table source, and the S3 objects behind a table.

Everything goes through the public AWS APIs (boto3 against the sandbox's own endpoint), as Athena
reads the catalog and S3: tables made by ``glue.create_table`` and by Athena DDL look the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from airflow_sales_provider import objects
from airflow_sales_provider.sandbox.athena.errors import AthenaQueryError

#: Objects Athena (Hive) skips when it lists a table or partition location.
_HIDDEN = re.compile(r"(^|/)[_.][^/]*$")


@dataclass(frozen=True)
class Table:
    """A Glue table as the engine reads it."""

    database: str
    name: str
    location: str
    columns: list[tuple[str, str]]
    partition_keys: list[tuple[str, str]]
    format: str  # csv | json | parquet
    delimiter: str = ","
    quote: str = ""
    escape: str = ""
    skip_header_lines: int = 0
    ignore_malformed: bool = False  # JsonSerDe 'ignore.malformed.json'
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def qualified(self) -> str:
        return f"awsdatacatalog.{self.database}.{self.name}"


@dataclass(frozen=True)
class Partition:
    values: dict[str, str]
    location: str


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    size: int


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of a location, read by :func:`airflow_sales_provider.objects.split_s3_uri`
    (``s3://bucket`` alone is the whole bucket); Athena's error for anything else."""
    text = uri if isinstance(uri, str) else ""
    if re.fullmatch(r"s3a?://[^/]+", text):
        text += "/"
    try:
        return objects.split_s3_uri(text)
    except ValueError:
        raise AthenaQueryError("INVALID_TABLE_PROPERTY", f"Location is not an s3:// URI: {uri!r}") from None


class Catalog:
    """Glue tables and partitions, and S3 listings, for one AWS region of the sandbox."""

    def __init__(self, clients: Any) -> None:
        self._clients = clients  # callable: service name -> boto3 client

    @property
    def glue(self) -> Any:
        return self._clients("glue")

    @property
    def s3(self) -> Any:
        return self._clients("s3")

    # --- reading --------------------------------------------------------------------------------------
    def table(self, database: str, name: str, where: str = "") -> Table:
        glue = self.glue
        try:
            table = glue.get_table(DatabaseName=database, Name=name)["Table"]
        except glue.exceptions.EntityNotFoundException:
            try:
                glue.get_database(Name=database)
            except glue.exceptions.EntityNotFoundException:
                raise AthenaQueryError(
                    "SCHEMA_NOT_FOUND", f"{where}Schema '{database}' does not exist"
                ) from None
            raise AthenaQueryError(
                "TABLE_NOT_FOUND", f"{where}Table 'awsdatacatalog.{database}.{name}' does not exist"
            ) from None
        return table_from_glue(database, table)

    def partitions(self, table: Table) -> list[Partition]:
        keys = [k for k, _ in table.partition_keys]
        out = []
        paginator = self.glue.get_paginator("get_partitions")
        for page in paginator.paginate(DatabaseName=table.database, TableName=table.name):
            for partition in page["Partitions"]:
                location = (partition.get("StorageDescriptor") or {}).get("Location") or ""
                values = dict(zip(keys, partition["Values"], strict=False))
                if not location:
                    location = (
                        table.location.rstrip("/") + "/" + "/".join(f"{k}={v}" for k, v in values.items())
                    )
                out.append(Partition(values, location))
        return out

    def objects(self, location: str) -> list[S3Object]:
        """The data objects under an S3 prefix (recursively), hidden and folder-marker objects left out."""
        bucket, prefix = split_s3_uri(location)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        s3 = self.s3
        found = []
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if key.endswith("/") or key.endswith("_$folder$") or _HIDDEN.search(key[len(prefix) :]):
                        continue
                    found.append(S3Object(bucket, key, int(item["Size"])))
        except s3.exceptions.NoSuchBucket:
            raise AthenaQueryError(
                "HIVE_FILESYSTEM_ERROR",
                f"The specified bucket does not exist (Service: Amazon S3; Status Code: 404; Error Code: "
                f"NoSuchBucket) while listing {location}",
            ) from None
        return found


def table_from_glue(database: str, table: dict[str, Any]) -> Table:
    """Read a Glue ``Table`` structure: columns, partition keys, storage format and SerDe options."""
    descriptor = table.get("StorageDescriptor") or {}
    serde = descriptor.get("SerdeInfo") or {}
    library = (serde.get("SerializationLibrary") or "").lower()
    serde_params = {k.lower(): v for k, v in (serde.get("Parameters") or {}).items()}
    params = {k.lower(): v for k, v in (table.get("Parameters") or {}).items()}
    input_format = (descriptor.get("InputFormat") or "").lower()
    classification = (params.get("classification") or "").lower()
    columns = [(c["Name"].lower(), c.get("Type") or "string") for c in descriptor.get("Columns") or []]
    keys = [(c["Name"].lower(), c.get("Type") or "string") for c in table.get("PartitionKeys") or []]
    location = descriptor.get("Location") or ""
    name = table["Name"].lower()
    if not location:
        raise AthenaQueryError(
            "HIVE_METASTORE_ERROR",
            f"Table 'awsdatacatalog.{database}.{name}' has no StorageDescriptor.Location",
        )
    skip = int(params.get("skip.header.line.count") or serde_params.get("skip.header.line.count") or 0)
    common = {
        "database": database,
        "name": name,
        "location": location,
        "columns": columns,
        "partition_keys": keys,
        "skip_header_lines": skip,
        "parameters": params,
    }
    if "parquet" in library or "parquet" in input_format or classification == "parquet":
        return Table(format="parquet", **common)  # type: ignore[arg-type]
    if "json" in library or classification == "json":
        ignore = str(serde_params.get("ignore.malformed.json", "")).lower() == "true"
        return Table(format="json", ignore_malformed=ignore, **common)  # type: ignore[arg-type]
    if "opencsvserde" in library:
        return Table(
            format="csv",
            delimiter=serde_params.get("separatorchar", ","),
            quote=serde_params.get("quotechar", '"'),
            # opencsv also reads a doubled quote as a quote; DuckDB takes one escape, so the doubled
            # quote (what CSV writers produce) wins unless the table names another escapeChar.
            escape=serde_params.get("escapechar", serde_params.get("quotechar", '"')),
            **common,  # type: ignore[arg-type]
        )
    if "lazysimpleserde" in library or "textinputformat" in input_format or classification == "csv":
        delimiter = serde_params.get("field.delim") or serde_params.get("serialization.format") or "\x01"
        if delimiter.isdigit():  # serialization.format '1' is Hive's default \001
            delimiter = chr(int(delimiter))
        return Table(format="csv", delimiter=delimiter, **common)  # type: ignore[arg-type]
    raise AthenaQueryError(
        "HIVE_UNSUPPORTED_FORMAT",
        f"Table 'awsdatacatalog.{database}.{name}': the sandbox engine reads CSV/text (LazySimpleSerDe, "
        f"OpenCSVSerde), JSON (JsonSerDe) and Parquet; got SerDe {serde.get('SerializationLibrary')!r}",
    )
