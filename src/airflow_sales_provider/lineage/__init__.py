"""Dataset names for lineage and data-aware scheduling, from plain values (no Airflow, no OpenLineage).

One naming scheme serves both OpenLineage datasets and Airflow Assets/Datasets, following the
conventions of the amazon, common.sql and postgres providers (OpenLineage's dataset naming spec):

============  ==========================================  ====================================
what          OpenLineage namespace / name                Airflow asset URI (AIP-60)
============  ==========================================  ====================================
PostgreSQL    ``postgres://host:5432`` / ``db.schema.t``  ``postgres://host:5432/db/schema/t``
Redshift      ``redshift://cluster.region:5439`` / same   ``redshift://cluster.region:5439/db/schema/t``
S3 object     ``s3://bucket`` / ``key``                   ``s3://bucket/key``
Athena table  ``awsathena://athena.region.amazonaws.com``
              / ``catalog.database.table``
============  ==========================================  ====================================

.. seealso:: ``docs/lineage.md``
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

DEFAULT_PORTS = {"postgres": 5432, "redshift": 5439}
DEFAULT_SCHEMA = "public"
# A load of more files than this names their common prefix instead of one input per file.
MAX_INPUT_FILES = 20


class DatasetName(NamedTuple):
    """An OpenLineage dataset identity: ``namespace`` (the data source) and ``name`` (within it)."""

    namespace: str
    name: str


def warehouse_scheme(conn_type: str | None) -> str:
    """``postgres`` or ``redshift`` (OpenLineage's scheme) for an Airflow connection type."""
    kind = (conn_type or "").lower()
    if kind in ("postgres", "postgresql"):
        return "postgres"
    if kind.startswith("redshift"):
        return "redshift"
    return kind or "sql"


def redshift_identifier(host: str | None, extra: Mapping[str, Any] | None = None) -> str | None:
    """``cluster.region`` as the amazon provider's RedshiftSQLHook names a cluster.

    From the ``cluster_identifier`` and ``region_name`` extras, else from an endpoint host
    ``cluster.id.region.redshift.amazonaws.com``; ``None`` when neither says.
    """
    extra = extra or {}
    cluster, region = extra.get("cluster_identifier"), extra.get("region_name") or extra.get("region")
    if cluster and region:
        return f"{cluster}.{region}"
    parts = (host or "").split(".")
    if (host or "").endswith("amazonaws.com") and len(parts) == 6:
        return f"{parts[0]}.{parts[2]}"
    if (host or "").endswith("amazonaws.com.cn") and len(parts) == 7:
        return f"{parts[0]}.{parts[2]}"
    return None


def warehouse_namespace(
    conn_type: str | None, host: str | None, port: int | None, extra: Mapping[str, Any] | None = None
) -> str:
    """The warehouse's namespace: ``postgres://host:port`` or ``redshift://cluster.region:port``."""
    scheme = warehouse_scheme(conn_type)
    port = port or DEFAULT_PORTS.get(scheme)
    authority = (redshift_identifier(host, extra) if scheme == "redshift" else None) or (host or "localhost")
    return f"{scheme}://{authority}:{port}" if port else f"{scheme}://{authority}"


def split_table(table: str, schema: str | None = None) -> tuple[str, str]:
    """``(schema, table)`` from ``table`` or ``schema.table``; the schema defaults to ``public``."""
    if "." in table and not schema:
        schema, table = table.split(".", 1)
    return (schema or DEFAULT_SCHEMA), table


def warehouse_table(
    conn_type: str | None,
    host: str | None,
    port: int | None,
    database: str | None,
    table: str,
    schema: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> DatasetName:
    """A warehouse table as a dataset: the namespace above, name ``database.schema.table``."""
    schema, table = split_table(table, schema)
    name = ".".join(part for part in (database, schema, table) if part)
    return DatasetName(warehouse_namespace(conn_type, host, port, extra), name)


def asset_uri(dataset: DatasetName) -> str:
    """The Airflow asset URI of a dataset: the postgres/amazon providers' AIP-60 form.

    Tables become ``scheme://authority/database/schema/table`` (the providers'
    ``convert_asset_to_openlineage`` maps it back to the same OpenLineage dataset); S3 objects
    ``s3://bucket/key``.
    """
    if dataset.namespace.startswith("s3://"):
        return f"{dataset.namespace}/{dataset.name.lstrip('/')}"
    parts = dataset.name.split(".")
    if len(parts) != 3:
        raise ValueError(
            f"a table asset needs database.schema.table, got {dataset.name!r}: set the connection's database"
        )
    return f"{dataset.namespace}/{'/'.join(parts)}"


def connection_table(connection: str, table: str, schema: str | None = None) -> DatasetName:
    """The dataset of ``table`` in the warehouse an Airflow connection names (URI or JSON form).

    For DAG files that schedule on a table: ``connection_table(os.environ["AIRFLOW_CONN_WAREHOUSE_DEFAULT"],
    "public.sales_daily")`` reads no secrets backend and no database while the file is parsed.
    """
    text = connection.strip()
    if text.startswith("{"):
        fields = json.loads(text)
        extra = fields.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra) if extra.strip() else {}
        port = fields.get("port")
        return warehouse_table(
            fields.get("conn_type"),
            fields.get("host"),
            int(port) if port else None,
            fields.get("schema") or None,
            table,
            schema,
            extra,
        )
    parts = urlsplit(text)
    database = unquote(parts.path.lstrip("/")) or None
    extra = dict(parse_qsl(parts.query))
    return warehouse_table(
        parts.scheme.replace("-", "_"), parts.hostname, parts.port, database, table, schema, extra
    )


def data_api_table(
    target: Mapping[str, Any], region: str | None, table: str, schema: str | None = None
) -> DatasetName:
    """A table reached through the Redshift Data API (``cluster_identifier`` or ``workgroup_name``)."""
    name = target.get("cluster_identifier") or target.get("workgroup_name") or "redshift"
    extra = {"cluster_identifier": name, "region_name": region} if region else {}
    return warehouse_table("redshift", str(name), None, target.get("database"), table, schema, extra)


def s3_object(bucket: str, key: str) -> DatasetName:
    """An S3 object or prefix: namespace ``s3://bucket``, name the key (``/`` for the whole bucket)."""
    return DatasetName(f"s3://{bucket}", key or "/")


def split_s3(uri: str) -> DatasetName:
    """``s3://bucket/key`` as a dataset."""
    parts = urlsplit(uri)
    return s3_object(parts.netloc, parts.path.lstrip("/"))


def common_prefix(keys: Sequence[str]) -> str:
    """The longest ``/``-ended prefix every key shares (``""`` when they share no folder)."""
    if not keys:
        return ""
    first, last = min(keys), max(keys)
    shared = 0
    while shared < min(len(first), len(last)) and first[shared] == last[shared]:
        shared += 1
    return first[: first.rfind("/", 0, shared) + 1] if "/" in first[:shared] else ""


def s3_inputs(bucket: str, keys: Sequence[str], max_files: int = MAX_INPUT_FILES) -> list[DatasetName]:
    """One dataset per object, or their common prefix once there are more than ``max_files``."""
    if len(keys) <= max_files:
        return [s3_object(bucket, key) for key in keys]
    return [s3_object(bucket, common_prefix(keys))]


def athena_namespace(region: str | None) -> str:
    """Athena's namespace as the amazon provider's AthenaOperator names it."""
    return f"awsathena://athena.{region}.amazonaws.com"


def athena_table(region: str | None, catalog: str | None, database: str | None, table: str) -> DatasetName:
    """An Athena table: name ``catalog.database.table`` (parts that are unknown are left out)."""
    return DatasetName(athena_namespace(region), ".".join(p for p in (catalog, database, table) if p))


__all__ = [
    "DEFAULT_SCHEMA",
    "MAX_INPUT_FILES",
    "DatasetName",
    "asset_uri",
    "athena_namespace",
    "athena_table",
    "common_prefix",
    "connection_table",
    "data_api_table",
    "redshift_identifier",
    "s3_inputs",
    "s3_object",
    "split_s3",
    "split_table",
    "warehouse_namespace",
    "warehouse_scheme",
    "warehouse_table",
]
