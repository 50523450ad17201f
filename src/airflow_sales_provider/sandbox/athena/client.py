"""``sandbox.athena``: helpers for tests and demos that use the sandbox's Athena engine.

Tables are ordinary Glue tables and queries ordinary Athena calls: these helpers only save typing.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.sandbox._process import SandboxError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_sales_provider.sandbox.core import Sandbox

#: ``format`` of :meth:`SandboxAthena.create_table_from_s3` -> Glue SerDe / input format.
FORMATS = ("csv", "json", "parquet")


class AthenaQueryFailed(SandboxError):
    """A query run by :meth:`SandboxAthena.query` ended FAILED or CANCELLED; the message is Athena's."""


class SandboxAthena:
    """Glue tables over S3 data, and one-call queries, on a running sandbox (``sandbox.athena``)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def create_table_from_s3(
        self,
        database: str,
        table: str,
        location: str,
        columns: Mapping[str, str] | Sequence[tuple[str, str]],
        *,
        format: str = "csv",  # noqa: A002 - the word Athena's DDL uses
        header: bool = True,
        delimiter: str = ",",
        quoted: bool = False,
        partitioned_by: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    ) -> list[dict[str, str]]:
        """Create a Glue database (if missing) and an external table over ``location`` (``s3://bucket/prefix/``).

        :param columns: column name -> Hive type (``string``, ``int``, ``bigint``, ``double``,
            ``decimal(12,2)``, ``date``, ``timestamp``, ``boolean``, ...), in file order.
        :param format: ``csv`` (LazySimpleSerDe, or OpenCSVSerde with ``quoted``), ``json`` (one object
            per line, JsonSerDe) or ``parquet``. gzip objects (``.gz``) are read as such.
        :param header: CSV files start with a header line (``skip.header.line.count=1``).
        :param quoted: CSV fields may be wrapped in double quotes (OpenCSVSerde).
        :param partitioned_by: partition column name -> type; the Hive-style folders already under
            ``location`` (``day=2025-01-01/``) are registered as partitions, as ``MSCK REPAIR TABLE`` does.
        :return: the partitions registered, as ``{column: value}`` dicts.
        """
        from airflow_sales_provider.sandbox.athena import ddl
        from airflow_sales_provider.sandbox.athena.catalog import Catalog

        if format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {format!r}")
        if not location.startswith("s3://"):
            raise ValueError(f"location must be an s3:// prefix; got {location!r}")
        glue = self._sandbox.boto3_client("glue")
        try:
            glue.create_database(DatabaseInput={"Name": database})
        except glue.exceptions.AlreadyExistsException:
            pass
        if format == "csv":
            serde, params = (
                (ddl.OPEN_CSV, {"separatorChar": delimiter, "quoteChar": '"'})
                if quoted
                else (ddl.LAZY_SIMPLE, {"field.delim": delimiter, "serialization.format": delimiter})
            )
            storage = (ddl.TEXT_INPUT, ddl.TEXT_OUTPUT)
        elif format == "json":
            serde, params, storage = ddl.JSON_SERDE, {}, (ddl.TEXT_INPUT, ddl.TEXT_OUTPUT)
        else:
            serde, params, storage = ddl.PARQUET_SERDE, {}, (ddl.PARQUET_INPUT, ddl.PARQUET_OUTPUT)
        table_params = {"EXTERNAL": "TRUE", "classification": format}
        if format == "csv" and header:
            table_params["skip.header.line.count"] = "1"
        glue.create_table(
            DatabaseName=database,
            TableInput={
                "Name": table,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": table_params,
                "PartitionKeys": [{"Name": n, "Type": t} for n, t in _pairs(partitioned_by or {})],
                "StorageDescriptor": {
                    "Columns": [{"Name": n, "Type": t} for n, t in _pairs(columns)],
                    "Location": location,
                    "InputFormat": storage[0],
                    "OutputFormat": storage[1],
                    "SerdeInfo": {"SerializationLibrary": serde, "Parameters": params},
                },
            },
        )
        if not partitioned_by:
            return []
        catalog = Catalog(self._sandbox.boto3_client)
        before = {tuple(p.values.items()) for p in catalog.partitions(catalog.table(database, table))}
        ddl.repair_partitions(catalog, database, table)
        after = catalog.partitions(catalog.table(database, table))
        return [p.values for p in after if tuple(p.values.items()) not in before]

    def query(
        self,
        sql: str,
        *,
        database: str | None = None,
        output_location: str = "s3://sandbox-athena-results/",
        workgroup: str = "primary",
        timeout: float = 120,
    ) -> list[dict[str, str | None]]:
        """Run one query through Athena's API and return its rows as dicts of text (NULL is ``None``),
        as Athena's result set has them. Raises :class:`AthenaQueryFailed` with Athena's reason."""
        s3 = self._sandbox.boto3_client("s3")
        bucket = output_location[len("s3://") :].split("/", 1)[0]
        try:
            s3.head_bucket(Bucket=bucket)
        except Exception:
            s3.create_bucket(Bucket=bucket)
        athena = self._sandbox.boto3_client("athena")
        request: dict[str, Any] = {
            "QueryString": sql,
            "ResultConfiguration": {"OutputLocation": output_location},
            "WorkGroup": workgroup,
        }
        if database:
            request["QueryExecutionContext"] = {"Database": database}
        query_execution_id = athena.start_query_execution(**request)["QueryExecutionId"]
        deadline = time.monotonic() + timeout
        while True:
            status = athena.get_query_execution(QueryExecutionId=query_execution_id)["QueryExecution"][
                "Status"
            ]
            if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            if time.monotonic() > deadline:
                raise AthenaQueryFailed(
                    f"Athena query {query_execution_id} still {status['State']} after {timeout}s"
                )
            time.sleep(0.02)
        if status["State"] != "SUCCEEDED":
            reason = status.get("StateChangeReason", "")
            raise AthenaQueryFailed(f"Athena query {query_execution_id} ended {status['State']}: {reason}")
        rows: list[dict[str, str | None]] = []
        header: list[str] | None = None
        for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_execution_id):
            for row in page["ResultSet"]["Rows"]:
                values = [cell.get("VarCharValue") for cell in row["Data"]]
                if header is None:
                    header = [str(v) for v in values]
                    continue
                rows.append(dict(zip(header, values, strict=True)))
        return rows


def _pairs(columns: Mapping[str, str] | Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(columns.items()) if hasattr(columns, "items") else [tuple(c) for c in columns]  # type: ignore[misc]
