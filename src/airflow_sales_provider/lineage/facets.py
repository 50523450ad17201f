"""OpenLineage ``OperatorLineage`` for our operators, built from :class:`DatasetName` values.

Every function returns ``None`` when the openlineage provider is not installed; the OpenLineage classes
are imported inside the functions, so a DAG file that imports our operators never pays for them.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_sales_provider.lineage import DatasetName

ATHENA_SOURCE = (
    "awsathena"  # the externalQuery facet's source, as the amazon provider's AthenaOperator sets it
)


def openlineage_installed() -> bool:
    """Whether the openlineage provider is importable (without importing it)."""
    try:
        return importlib.util.find_spec("airflow.providers.openlineage") is not None
    except ImportError:
        return False


def operator_lineage(
    inputs: Sequence[Any] = (),
    outputs: Sequence[Any] = (),
    run_facets: dict[str, Any] | None = None,
    job_facets: dict[str, Any] | None = None,
) -> Any:
    """``OperatorLineage`` of already built datasets and facets (``None`` without the provider)."""
    if not openlineage_installed():
        return None
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(
        inputs=list(inputs), outputs=list(outputs), run_facets=run_facets or {}, job_facets=job_facets or {}
    )


def dataset(name: DatasetName, facets: dict[str, Any] | None = None) -> Any:
    from airflow.providers.common.compat.openlineage.facet import Dataset

    return Dataset(namespace=name.namespace, name=name.name, facets=facets or {})


def load_lineage(
    inputs: Sequence[DatasetName],
    output: DatasetName,
    *,
    rows: int | None,
    size: int | None,
    files: int,
    columns: Sequence[str] = (),
) -> Any:
    """Loader: the S3 inputs, the table with ``outputStatistics`` and (when known) ``columnLineage``.

    Each loaded column comes unchanged from the file column of the same name (CSV header or JSON key),
    an ``IDENTITY`` transformation in every input dataset.
    """
    if not openlineage_installed():
        return None
    from airflow.providers.common.compat.openlineage.facet import (
        ColumnLineageDatasetFacet,
        Fields,
        InputField,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )
    from openlineage.client.facet_v2 import column_lineage_dataset

    facets: dict[str, Any] = {}
    if columns and inputs:
        identity = [
            column_lineage_dataset.Transformation(
                type="DIRECT", subtype="IDENTITY", description="", masking=False
            )
        ]
        facets["columnLineage"] = ColumnLineageDatasetFacet(
            fields={
                column: Fields(
                    inputFields=[
                        InputField(namespace=i.namespace, name=i.name, field=column, transformations=identity)
                        for i in inputs
                    ],
                    transformationType="IDENTITY",
                    transformationDescription="loaded as is",
                )
                for column in columns
            }
        )
    table = OutputDataset(
        namespace=output.namespace,
        name=output.name,
        facets=facets,
        outputFacets={
            "outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=rows, size=size, fileCount=files)
        },
    )
    return operator_lineage([dataset(i) for i in inputs], [table])


def athena_lineage(
    inputs: Sequence[DatasetName], report: DatasetName, *, query_execution_id: str | None, sql: str | None
) -> Any:
    """Athena report: the tables the query reads, the report object, the query id and SQL."""
    if not openlineage_installed():
        return None
    from airflow.providers.common.compat.openlineage.facet import ExternalQueryRunFacet, SQLJobFacet

    run_facets = {}
    if query_execution_id:
        run_facets["externalQuery"] = ExternalQueryRunFacet(
            externalQueryId=query_execution_id, source=ATHENA_SOURCE
        )
    job_facets = {"sql": SQLJobFacet(query=sql)} if sql else {}
    return operator_lineage(
        [dataset(i) for i in inputs], [dataset(report)], run_facets=run_facets, job_facets=job_facets
    )


def read_tables(sql: str) -> list[tuple[str | None, str | None, str]]:
    """``(catalog, database, table)`` of every table a query reads, by the OpenLineage SQL parser.

    CTE names are not tables and are left out; an unparsable query reads nothing we can name.
    """
    from airflow.providers.openlineage.sqlparser import SQLParser

    result = SQLParser(dialect="generic").parse(sql)
    if not result:
        return []
    return [(table.database, table.schema, table.name) for table in result.in_tables]


__all__ = [
    "athena_lineage",
    "dataset",
    "load_lineage",
    "openlineage_installed",
    "operator_lineage",
    "read_tables",
]
