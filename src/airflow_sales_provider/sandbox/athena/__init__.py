"""The sandbox's Athena engine: Athena's query API answered with real results from S3 data.

Tables come from the Glue Data Catalog on moto (Glue API or Athena DDL); queries in Athena's SQL
(Trino) are translated with sqlglot and run by an embedded DuckDB over the objects, read through the
S3 API. See docs/sandbox.md, "Athena that runs the query".
"""

from __future__ import annotations

from airflow_sales_provider.sandbox.athena.client import AthenaQueryFailed, SandboxAthena

__all__ = ["AthenaQueryFailed", "SandboxAthena"]
