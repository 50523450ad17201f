"""The loader's lineage: its OpenLineage facets and its asset event (``docs/lineage.md``).

A mixin of :class:`~airflow_sales_provider.operators.redshift_load.RedshiftLoadOperator`, which records
what it loaded in ``_loaded`` (bucket, objects, rows) and ``_loaded_columns``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_sales_provider.objects import S3Object


class LoadLineageMixin:
    """``target_dataset``, ``post_execute`` (the asset event) and the OpenLineage methods of the loader."""

    method: str
    data_api_kwargs: dict[str, Any] | None
    table: str
    schema: str | None
    redshift_conn_id: str
    emit_asset: bool
    data_api: Any
    _loaded: tuple[str, list[S3Object], int | None] | None
    _loaded_columns: list[str]

    def target_dataset(self) -> Any:
        """The target table as a dataset name (reads the connection; Data API: the cluster or workgroup)."""
        from airflow_sales_provider.lineage import data_api_table
        from airflow_sales_provider.lineage.assets import connection_dataset

        if self.method == "data_api":
            region = self.data_api.region_name
            return data_api_table(self.data_api_kwargs or {}, region, self.table, self.schema)
        return connection_dataset(self.redshift_conn_id, self.table, self.schema)

    def post_execute(self, context: Any, result: Any = None) -> None:
        super().post_execute(context, result)  # type: ignore[misc]
        if self.emit_asset:
            from airflow_sales_provider.lineage.assets import emit

            rows = self._loaded[2] if self._loaded else None
            emit(self, context, self.target_dataset(), {"rows_loaded": rows})

    def get_openlineage_facets_on_start(self) -> Any:
        """The target table, known before anything is listed or loaded."""
        from airflow_sales_provider.lineage.facets import dataset, openlineage_installed, operator_lineage

        if not openlineage_installed():
            return None
        return operator_lineage(outputs=[dataset(self.target_dataset())])

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The S3 objects loaded, the table with its output statistics and column lineage."""
        from airflow_sales_provider.lineage import s3_inputs
        from airflow_sales_provider.lineage.facets import load_lineage

        if self._loaded is None:
            return None
        bucket, objects, rows = self._loaded
        sizes = [o.size for o in objects]
        return load_lineage(
            s3_inputs(bucket, [o.key for o in objects]),
            self.target_dataset(),
            rows=rows,
            size=None if None in sizes else sum(s or 0 for s in sizes),
            files=len(objects),
            columns=self._loaded_columns if objects else (),
        )
